package breach_test

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/data"
)

func TestSHA1Vector(t *testing.T) {
	const want = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
	sum := sha1.Sum([]byte("password"))
	if got := strings.ToUpper(hex.EncodeToString(sum[:])); got != want {
		t.Fatalf("SHA-1(password) = %s, want %s", got, want)
	}
	// The HIBP line for "password" makes the checker refuse it.
	in := writeFile(t, filepath.Join(t.TempDir(), "hibp.txt"), []byte(want+":52256179\r\n"))
	path, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{in}})
	c := breach.NewChecker(mustOpen(t, path), breach.CheckerOptions{})
	v, err := c.Check("password", nil)
	if err != nil || !v.Breached {
		t.Fatalf("Check(password) = %+v, %v; want breached", v, err)
	}
}

func TestOpenDefault_RejectsCommonPasswords(t *testing.T) {
	f, err := breach.OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	c := breach.NewChecker(f, breach.CheckerOptions{}) // strength off: the filter alone
	t.Cleanup(func() { c.Close() })
	for _, pw := range []string{"qwertyuiop", "password1", "iloveyou", "password", "123456789"} {
		v, err := c.Check(pw, nil)
		if err != nil || !v.Breached {
			t.Errorf("Check(%q) = %+v, %v; want breached", pw, v, err)
		}
	}
	// Every listed password is in the filter.
	for _, pw := range strings.Split(strings.TrimSpace(data.CommonPasswords()), "\n") {
		if !f.ContainsSHA1(sha1.Sum([]byte(pw))) {
			t.Fatalf("a listed password (%d bytes) is missing from the default filter", len(pw))
		}
	}
	v, err := c.Check("kDWPe4qf$&mgM26&8hX", nil)
	if err != nil || v.Breached {
		t.Errorf("strong password: %+v, %v; want not breached", v, err)
	}
	info := c.Info()
	if info.Elements != 7141 || info.Path != "" || info.Source != data.DefaultFilterSource {
		t.Errorf("Info = %+v", info)
	}
}

// The shipped default filter is exactly what `go generate ./data` makes
// from the shipped list.
func TestDefaultFilter_Reproducible(t *testing.T) {
	out := filepath.Join(t.TempDir(), "default.bloom")
	opts := breach.DefaultBuildOptions(out, filepath.Join("..", "data", data.CommonPasswordsFile))
	if _, err := mustBuildErr(opts); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, out)
	if string(got) != data.BreachFilter() {
		t.Fatalf("data/%s differs from a rebuild of data/%s: run go generate ./data", data.DefaultFilterFile, data.CommonPasswordsFile)
	}
	// The embedded filter stays in the bloom/v3 layout, which stays fully
	// supported: small enough for the cache, it gains nothing from blocks.
	f, err := breach.OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v := f.Header().Version; v != breach.FormatV1 || f.Bloom() == nil {
		t.Fatalf("default filter is version %d, want 1", v)
	}
}

func TestChecker_Check(t *testing.T) {
	path, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "password", "Correct-Horse-9")}})
	tests := []struct {
		name         string
		minScore     int
		password     string
		inputs       []string
		wantBreached bool
		wantWeak     bool
	}{
		{"InFilter", 0, "password", nil, true, false},
		{"NFKCInFilter", 0, "ｐａｓｓｗｏｒｄ", nil, true, false}, // fullwidth letters
		{"Strong", breach.DefaultMinScore, "kDWPe4qf$&mgM26&8hX", []string{"jane.doe@example.com"}, false, false},
		{"LowScore", breach.DefaultMinScore, "aaaaaaaaaaaa", nil, false, true},
		{"LowScoreStrengthOff", 0, "aaaaaaaaaaaa", nil, false, false},
		{"ContainsLocalPart", 0, "xX-JaneDoe-kDWPe4qf$&", []string{"janedoe@example.com"}, false, true},
		{"ContainsLocalPartNFKC", 0, "xX-ＪａｎｅＤｏｅ-kDWPe4qf$&", []string{"janedoe@example.com"}, false, true},
		{"ShortLocalPartAllowed", 0, "bob-kDWPe4qf$&mgM26", []string{"bob@example.com"}, false, false},
		{"NotAnEmailInput", 0, "janedoe-kDWPe4qf$&mgM26", []string{"janedoe"}, false, false},
		{"UserInputLowersScore", breach.DefaultMinScore, "janedoe1987", []string{"janedoe@example.com"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := breach.NewChecker(mustOpen(t, path), breach.CheckerOptions{MinScore: tt.minScore})
			v, err := c.Check(tt.password, tt.inputs)
			if err != nil {
				t.Fatal(err)
			}
			if v.Breached != tt.wantBreached || v.Weak != tt.wantWeak {
				t.Fatalf("Check = %+v, want breached=%v weak=%v", v, tt.wantBreached, tt.wantWeak)
			}
		})
	}
}

func TestChecker_InfoAndClose(t *testing.T) {
	path, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "a", "b", "c")}, Source: "three"})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := breach.NewChecker(mustOpen(t, path), breach.CheckerOptions{Now: func() time.Time { return at }})
	info := c.Info()
	h := rep.Header
	if info.Version != breach.FormatV2 || h.Version != breach.FormatV2 || info.Elements != 3 || info.Bits != h.M || info.K != h.K || info.TargetFPR != breach.DefaultFPR ||
		!info.LoadedAt.Equal(at) || !info.BuiltAt.Equal(h.BuiltAt) || info.Source != "three" || info.Path != path {
		t.Fatalf("Info = %+v, header %+v", info, h)
	}
	v1, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "a")}, Version: breach.FormatV1})
	if v := breach.NewChecker(mustOpen(t, v1), breach.CheckerOptions{}).Info().Version; v != breach.FormatV1 {
		t.Fatalf("Info of a version 1 file: version %d", v)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check("x", nil); !errors.Is(err, breach.ErrClosed) {
		t.Fatalf("Check after Close: %v, want ErrClosed", err)
	}
	if err := c.Reload(""); !errors.Is(err, breach.ErrClosed) {
		t.Fatalf("Reload after Close: %v, want ErrClosed", err)
	}
}

func TestChecker_ReloadKeepsOldOnError(t *testing.T) {
	path, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "password")}})
	bad := writeFile(t, filepath.Join(t.TempDir(), "bad.bloom"), []byte("not a filter"))
	c := breach.NewChecker(mustOpen(t, path), breach.CheckerOptions{})
	if err := c.Reload(bad); !errors.Is(err, breach.ErrNotFilter) {
		t.Fatalf("Reload(bad) = %v, want ErrNotFilter", err)
	}
	if v, err := c.Check("password", nil); err != nil || !v.Breached || c.Info().Path != path {
		t.Fatalf("after failed reload: %+v, %v, %s", v, err, c.Info().Path)
	}
}

// Reload swaps filters while many goroutines check; no check fails, none
// sees an unmapped filter (which would crash the test binary), and a
// password in both filters is found every time. With CopyToMemory the
// background copies swap filters too.
func TestChecker_ReloadUnderConcurrentChecks(t *testing.T) {
	pathA, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "both-filters", "only-in-a")}})
	pathB, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "both-filters", "only-in-b")}})
	for _, copyToMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("CopyToMemory=%v", copyToMemory), func(t *testing.T) {
			c := breach.NewChecker(mustOpen(t, pathA), breach.CheckerOptions{VerifyOnReload: true, CopyToMemory: copyToMemory})
			t.Cleanup(func() { c.Close() })

			const readers = 8
			var (
				stop    atomic.Bool
				checks  atomic.Int64
				wg      sync.WaitGroup
				started sync.WaitGroup
				errs    = make(chan error, readers)
			)
			started.Add(readers)
			for range readers {
				wg.Go(func() {
					first := true
					for !stop.Load() {
						v, err := c.Check("both-filters", nil)
						if err == nil && !v.Breached {
							err = errors.New("password in both filters not found")
						}
						if err != nil {
							errs <- err
							return
						}
						checks.Add(1)
						if first {
							started.Done()
							first = false
						}
					}
				})
			}
			started.Wait() // every reader is running before the swaps start
			for i := range 200 {
				p := pathA
				if i%2 == 0 {
					p = pathB
				}
				if err := c.Reload(p); err != nil {
					t.Fatalf("Reload #%d: %v", i, err)
				}
				if i%50 == 0 {
					if err := c.Reload(""); err != nil { // reopen the same file
						t.Fatalf("Reload(\"\"): %v", err)
					}
				}
			}
			stop.Store(true)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if checks.Load() < readers {
				t.Fatalf("only %d checks ran", checks.Load())
			}
		})
	}
}

func TestChecker_CopyToMemory(t *testing.T) {
	pathA, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "only-in-a")}})
	pathB, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "only-in-b")}})
	c := breach.NewChecker(mustOpen(t, pathA), breach.CheckerOptions{CopyToMemory: true})
	t.Cleanup(func() { c.Close() })
	waitResident := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !c.Resident() {
			if time.Now().After(deadline) {
				t.Fatal("the filter was not copied into memory within 10s")
			}
			runtime.Gosched()
		}
	}
	breached := func(pw string) bool {
		t.Helper()
		v, err := c.Check(pw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.Breached
	}
	waitResident()
	if !breached("only-in-a") || breached("only-in-b") || c.Info().Path != pathA {
		t.Fatal("in-memory copy of A does not answer like A")
	}
	if err := c.Reload(pathB); err != nil {
		t.Fatal(err)
	}
	if !breached("only-in-b") || breached("only-in-a") {
		t.Fatal("after Reload(B), checks do not answer like B")
	}
	waitResident()
	if !breached("only-in-b") || breached("only-in-a") || c.Info().Path != pathB {
		t.Fatal("in-memory copy of B does not answer like B")
	}
}

func TestFilter_InMemory(t *testing.T) {
	keys := genKeys(2000, 20)
	path, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))}})
	f := mustOpen(t, path)
	g, err := f.InMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil { // the copy does not depend on the mapping
		t.Fatal(err)
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !g.ContainsSHA1(k) {
			t.Fatal("key missing from the in-memory copy")
		}
	}
	if g.Header() != mustOpen(t, path).Header() {
		t.Fatal("copy has a different header")
	}
	g.Close()
	if _, err := g.InMemory(nil); !errors.Is(err, breach.ErrClosed) {
		t.Fatalf("InMemory of a closed filter: %v", err)
	}
	stop := make(chan struct{})
	close(stop)
	if _, err := mustOpen(t, path).InMemory(stop); !errors.Is(err, breach.ErrClosed) {
		t.Fatalf("InMemory with stop closed: %v", err)
	}
}

func TestChecker_Verify(t *testing.T) {
	path, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "password")}})
	c := breach.NewChecker(mustOpen(t, path), breach.CheckerOptions{})
	if err := c.Verify(); err != nil {
		t.Fatalf("Verify(good) = %v", err)
	}
	b := readFile(t, path)
	b[len(b)-1] ^= 1
	bad := writeFile(t, filepath.Join(t.TempDir(), "bad.bloom"), b)
	if err := c.Reload(bad); err != nil { // the cheap checks pass
		t.Fatal(err)
	}
	if err := c.Verify(); !errors.Is(err, breach.ErrCorrupt) {
		t.Fatalf("Verify(corrupt) = %v, want ErrCorrupt", err)
	}
	t.Run("VerifyOnReloadRefuses", func(t *testing.T) {
		c := breach.NewChecker(mustOpen(t, path), breach.CheckerOptions{VerifyOnReload: true})
		if err := c.Reload(bad); !errors.Is(err, breach.ErrCorrupt) {
			t.Fatalf("Reload(corrupt) = %v, want ErrCorrupt", err)
		}
		if c.Info().Path != path {
			t.Fatal("a refused reload replaced the filter")
		}
	})
	c.Close()
	if err := c.Verify(); !errors.Is(err, breach.ErrClosed) {
		t.Fatalf("Verify after Close = %v", err)
	}
}

// TestChecker_StrengthOnStoredForm: the strength rule judges the NFKC form
// that is stored, and repeats of one non-ASCII character are weak although
// zxcvbn scores them as strong.
func TestChecker_StrengthOnStoredForm(t *testing.T) {
	f, err := breach.OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	c := breach.NewChecker(f, breach.CheckerOptions{MinScore: breach.DefaultMinScore})
	defer c.Close()
	for _, tc := range []struct {
		pw   string
		weak bool
	}{
		{"ａａａａａａａａａａ", true}, // fullwidth: stored as aaaaaaaaaa
		{"жжжжжжжжжж", true},
		{"éééééééééé", true},
		{"一一一一一一一一", true},
		{"ab12ab12ab12ab", true}, // four different characters
		{"kDWPe4qf$&mgM26&8hX", false},
		{"Пароль-для-сброса-73", false},
	} {
		v, err := c.Check(tc.pw, []string{"alice@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if v.Weak != tc.weak {
			t.Errorf("Check(%q).Weak = %v, want %v", tc.pw, v.Weak, tc.weak)
		}
	}
}

// TestOpen_RefusesFIFO: a FIFO is refused at once instead of blocking the
// caller (an admin reload) until something writes to it.
func TestOpen_RefusesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := breach.Open(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Open(fifo) = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open(fifo) blocked")
	}
}
