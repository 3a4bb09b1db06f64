package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel
// reports them in USER_HZ, which is 100 on every Linux architecture Go
// supports, whatever the kernel's own tick rate.
const userHZ = 100

// ProcessCPU returns the user + system CPU seconds another process has
// used, from /proc/PID/stat (10 ms resolution).
func ProcessCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return ParseStat(b)
}

// ParseStat returns utime + stime in seconds from a /proc/PID/stat line.
func ParseStat(b []byte) (float64, error) {
	_, f, ok := StatFields(b)
	if !ok || len(f) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad utime/stime in /proc stat")
	}
	return (ut + st) / userHZ, nil
}

// StatFields splits a /proc/PID/stat line ("80 (kdamond.0) S 2 …") into
// the command name, field 2, and the fields after it, from field 3 (the
// state) on. The name may hold spaces and parentheses, so it ends at the
// last ')'. ok is false without a parenthesised name.
func StatFields(b []byte) (name string, fields []string, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", nil, false
	}
	return string(b[open+1 : end]), strings.Fields(string(b[end+1:])), true
}

// SelfCPU returns this process's user + system CPU seconds, with the
// microsecond resolution of getrusage rather than /proc's 10 ms ticks.
func SelfCPU() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9, nil
}
