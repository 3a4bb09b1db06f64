#include "textflag.h"

// func prefetchWords(base unsafe.Pointer, pos *uint64, k int)
// Prefetches the 64-bit word holding bit pos[i] of base for i < k.
TEXT ·prefetchWords(SB), NOSPLIT, $0-24
	MOVQ base+0(FP), AX
	MOVQ pos+8(FP), BX
	MOVQ k+16(FP), CX
loop:
	TESTQ CX, CX
	JEQ   done
	MOVQ  (BX), DX
	SHRQ  $6, DX
	PREFETCHT0 (AX)(DX*8)
	ADDQ  $8, BX
	DECQ  CX
	JMP   loop
done:
	RET
