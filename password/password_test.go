package password_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/safereset/safereset/password"
)

// fast parameters keep the tests quick; the cost model is the same.
var fast = password.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func mustHasher(t *testing.T, n int) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(fast, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLength_CountsCodePointsAfterNFKC(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		want int
	}{
		{"abcdefgh", 8},
		{"pässwörd", 8},             // precomposed
		{"pa\u0308sswo\u0308rd", 8}, // combining marks compose under NFKC
		{"ﬁ", 2},                    // ligature decomposes to "fi"
		{"🔑🔑", 2},
		{"", 0},
	} {
		if got := password.Length(tc.pw); got != tc.want {
			t.Errorf("Length(%q) = %d, want %d", tc.pw, got, tc.want)
		}
	}
}

func TestHasher_HashVerify(t *testing.T) {
	h := mustHasher(t, 2)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=8192,t=1,p=1$"; len(phc) < len(want) || phc[:len(want)] != want {
		t.Fatalf("PHC string %q does not start with %q", phc, want)
	}
	if err := password.CheckPHC(phc); err != nil {
		t.Fatalf("CheckPHC(own hash): %v", err)
	}
	for pw, want := range map[string]bool{
		"correct horse battery staple":  true,
		"correct horse battery staple ": false,
		"Correct horse battery staple":  false,
	} {
		ok, err := h.Verify(ctx, pw, phc)
		if err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	// The NFKC form is what is hashed: the decomposed and composed forms match.
	phc2, _ := h.Hash(ctx, "pa\u0308sswort-lang")
	if ok, _ := h.Verify(ctx, "pässwort-lang", phc2); !ok {
		t.Error("composed form does not verify against hash of decomposed form")
	}
}

func TestHasher_VerifyBcrypt(t *testing.T) {
	h := mustHasher(t, 1)
	b, err := bcrypt.GenerateFromPassword([]byte("imported-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := password.CheckPHC(string(b)); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(context.Background(), "imported-secret", string(b)); !ok || err != nil {
		t.Fatalf("bcrypt verify = %v, %v", ok, err)
	}
	if ok, _ := h.Verify(context.Background(), "imported-secreT", string(b)); ok {
		t.Fatal("wrong password verified")
	}
}

func TestCheckPHC_RejectsGarbage(t *testing.T) {
	for _, s := range []string{
		"", "plaintext", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=8192,t=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=8388608,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5", // 8 GiB: memory bomb
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5", // 4 GiB
		"$argon2id$v=19$m=65536,t=100,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5", // t=100
		"$2a$31$4M1pj1pO6WGrJ2SP8ZCvMOpJ9sS3e4Xk3MiM3vVIv4ZKpd8WhT/1S",               // bcrypt cost 31: hours
		"$argon2id$v=19$m=8192,t=1,p=1$!!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$2b$04$short",
	} {
		if err := password.CheckPHC(s); !errors.Is(err, password.ErrUnsupportedHash) {
			t.Errorf("CheckPHC(%q) = %v, want ErrUnsupportedHash", s, err)
		}
	}
}

// TestVerify_OwnCostlyParamsStillVerify: a server configured above the
// import limits still verifies its own hashes.
func TestVerify_OwnCostlyParamsStillVerify(t *testing.T) {
	p := fast
	p.Time = password.MaxStoredArgonTime + 1
	h, err := password.NewHasher(p, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	phc, _ := h.Hash(context.Background(), "own-costly-hash")
	if ok, err := h.Verify(context.Background(), "own-costly-hash", phc); !ok || err != nil {
		t.Fatalf("own hash: %v %v", ok, err)
	}
	if err := password.CheckPHC(phc); err == nil {
		t.Fatal("import accepted a hash above the import limit")
	}
}

func TestNewHasher_RejectsBadParams(t *testing.T) {
	for _, p := range []password.Params{
		{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 8192, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 8192, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
	} {
		if _, err := password.NewHasher(p, 1, nil); err == nil {
			t.Errorf("NewHasher(%+v) accepted", p)
		}
	}
	if _, err := password.NewHasher(fast, 0, nil); err == nil {
		t.Error("concurrency 0 accepted")
	}
}

// TestHasher_Semaphore proves no more than the configured number of slots
// are held at once, however many goroutines ask.
func TestHasher_Semaphore(t *testing.T) {
	const limit = 2
	h := mustHasher(t, limit)
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := password.WithSlotForTest(h, context.Background(), func() {
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				runtime.Gosched() // let others try to enter while this slot is held
				cur.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := peak.Load(); got > limit || got < 1 {
		t.Fatalf("peak concurrency %d, want 1..%d", got, limit)
	}
}

func TestHasher_WaitHonoursContext(t *testing.T) {
	h := mustHasher(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	hold := make(chan struct{})
	inSlot := make(chan struct{})
	go func() {
		_ = password.WithSlotForTest(h, context.Background(), func() { close(inSlot); <-hold })
	}()
	<-inSlot
	cancel()
	if _, err := h.Hash(ctx, "waiting-for-a-slot"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with cancelled ctx while slots are full = %v, want context.Canceled", err)
	}
	close(hold)
}

// TestHasher_DoSharesTheSlots: Do waits for a slot like Hash does.
func TestHasher_DoSharesTheSlots(t *testing.T) {
	h := mustHasher(t, 1)
	hold, inSlot := make(chan struct{}), make(chan struct{})
	go func() {
		_ = h.Do(context.Background(), func() { close(inSlot); <-hold })
	}()
	<-inSlot
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := h.Do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Do with all slots taken: err %v, ran %v", err, ran)
	}
	close(hold)
	if err := h.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("Do after release: %v %v", err, ran)
	}
}

func BenchmarkHash_Default(b *testing.B) {
	h, err := password.NewHasher(password.DefaultParams, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "kDWPe4qf$&mgM26&8hX"); err != nil {
			b.Fatal(err)
		}
	}
}
