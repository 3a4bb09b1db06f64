package breach

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go"
	"golang.org/x/text/unicode/norm"

	"github.com/safereset/safereset"
)

var _ safereset.BreachChecker = (*Checker)(nil)

// ErrStrength is returned by Check when the strength estimate failed (the
// zxcvbn library panicked on the input); the password is neither accepted
// nor known to be weak.
var ErrStrength = errors.New("breach: password strength estimate failed")

// DefaultMinScore is the zxcvbn score (0-4) a password needs by default.
const DefaultMinScore = 3

// minLocalPart is the shortest email local part a password may not contain.
const minLocalPart = 4

// CheckerOptions configures a Checker.
type CheckerOptions struct {
	// MinScore is the lowest zxcvbn score accepted, 0-4; 0 disables the
	// strength check. The zero value disables it: pass DefaultMinScore for
	// the service's default.
	MinScore int
	// VerifyOnReload makes Reload check the checksum of every word of the
	// new filter before swapping it in, on the same open file it then
	// serves (measured: 0.53 s for 3.35 GiB in the page cache, 2.4 s from
	// disk).
	VerifyOnReload bool
	// CopyToMemory makes the Checker, after each load, copy the filter
	// into huge-page-backed memory in the background (Filter.InMemory) and
	// swap the copy in when it is ready. Start-up stays instant. It helps
	// when the mapping cannot get 2 MiB pages (the file is cached in 4 KiB
	// pieces, e.g. just built on this host, or the filesystem has no large
	// folios): full-size lookups then run about 20% faster once the copy
	// is in. It costs the filter's size in private memory.
	CopyToMemory bool
	// Now stamps FilterInfo.LoadedAt (default time.Now).
	Now func() time.Time
	// Exact, when set, confirms every filter hit (twostage.go); the
	// Checker takes ownership of it.
	Exact *Exact
	// MinCount refuses, with Exact, only passwords seen at least this
	// many times (0 or 1: every confirmed hit).
	MinCount uint64
}

// Checker decides whether a new password is breached (in the filter) or
// weak (SPEC §2.4). It is safe for concurrent use, and Reload swaps the
// filter without disturbing checks in flight.
type Checker struct {
	minScore int
	verify   bool
	now      func() time.Time

	copyToMemory bool
	stop         chan struct{} // closed by Close: abandon copies
	copies       sync.WaitGroup

	cur      atomic.Pointer[loaded]
	reloadMu sync.Mutex // one swap at a time
	closed   atomic.Bool

	two twoStage
}

// loaded is a filter and when and from where it was loaded.
type loaded struct {
	f        *Filter
	loadedAt time.Time
	path     string // "" for the embedded default
	resident bool   // f is an in-memory copy
}

// NewChecker returns a Checker over f, which it takes ownership of: the
// Checker closes f when it is replaced by Reload or the Checker is closed.
func NewChecker(f *Filter, opts CheckerOptions) *Checker {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	c := &Checker{minScore: opts.MinScore, verify: opts.VerifyOnReload, now: now, copyToMemory: opts.CopyToMemory, stop: make(chan struct{})}
	if opts.Exact != nil {
		c.two.exact.Store(opts.Exact)
		c.two.enabled = true
	}
	c.two.minCount = max(opts.MinCount, 1)
	l := &loaded{f: f, loadedAt: now(), path: f.Path()}
	c.cur.Store(l)
	c.startCopy(l)
	return c
}

// startCopy copies l's filter into memory in the background and swaps the
// copy in, unless another filter was loaded meanwhile.
func (c *Checker) startCopy(l *loaded) {
	if !c.copyToMemory {
		return
	}
	c.copies.Go(func() {
		g, err := l.f.InMemory(c.stop)
		if err != nil {
			return // ErrClosed, or no memory: keep serving from the mapping
		}
		c.reloadMu.Lock()
		defer c.reloadMu.Unlock()
		if c.closed.Load() || c.cur.Load() != l {
			g.Close()
			return
		}
		c.cur.Store(&loaded{f: g, loadedAt: l.loadedAt, path: l.path, resident: true})
		l.f.Close()
	})
}

// Resident reports whether the current filter is an in-memory copy
// (CheckerOptions.CopyToMemory) rather than the mapped file.
func (c *Checker) Resident() bool { return c.cur.Load().resident }

// acquire returns the current filter with a reference held; the caller
// must release it. It retries when a Reload swapped the filter and the old
// one was released between the load and the reference.
func (c *Checker) acquire() (*loaded, error) {
	for {
		if c.closed.Load() {
			return nil, ErrClosed
		}
		l := c.cur.Load()
		if l.f.acquire() {
			return l, nil
		}
	}
}

// Check reports whether password is breached (its SHA-1, or that of its
// NFKC form, is in the filter) or weak (zxcvbn score below MinScore with
// userInputs, or it contains the local part, 4 or more characters, of an
// email address among userInputs, case-insensitively). A breached password
// is not scored for strength.
func (c *Checker) Check(password string, userInputs []string) (safereset.Verdict, error) {
	return c.check(password, userInputs, true)
}

// CheckQuick is Check without the zxcvbn estimate and the distinct-character
// rule: breached, or containing the local part. It costs microseconds; the
// server uses it for requests that cannot succeed.
func (c *Checker) CheckQuick(password string, userInputs []string) (safereset.Verdict, error) {
	return c.check(password, userInputs, false)
}

var _ safereset.QuickChecker = (*Checker)(nil)

func (c *Checker) check(password string, userInputs []string, strength bool) (safereset.Verdict, error) {
	l, err := c.acquire()
	if err != nil {
		return safereset.Verdict{}, err
	}
	breached, err := c.two.contains(l.f, sha1.Sum([]byte(password)))
	nfkc := norm.NFKC.String(password)
	if err == nil && !breached && nfkc != password {
		breached, err = c.two.contains(l.f, sha1.Sum([]byte(nfkc)))
	}
	l.f.release()
	if err != nil {
		// Fail closed: a password that could not be looked up is neither
		// breached nor clean.
		return safereset.Verdict{}, err
	}
	if breached {
		return safereset.Verdict{Breached: true}, nil
	}
	weak, err := c.weak(password, nfkc, userInputs, strength)
	if err != nil {
		return safereset.Verdict{}, err
	}
	return safereset.Verdict{Weak: weak}, nil
}

func (c *Checker) weak(password, nfkc string, userInputs []string, strength bool) (weak bool, err error) {
	inputs := make([]string, 0, 2*len(userInputs))
	var lowerPW, lowerNFKC string // computed for the first email input
	for _, in := range userInputs {
		inputs = append(inputs, in)
		at := strings.LastIndexByte(in, '@')
		if at < 0 {
			continue
		}
		local := safereset.LocalPart(in)
		inputs = append(inputs, local)
		if utf8.RuneCountInString(local) < minLocalPart {
			continue
		}
		if lowerPW == "" {
			lowerPW, lowerNFKC = strings.ToLower(password), strings.ToLower(nfkc)
		}
		ll := strings.ToLower(local)
		if strings.Contains(lowerPW, ll) || strings.Contains(lowerNFKC, strings.ToLower(norm.NFKC.String(local))) {
			return true, nil
		}
	}
	if c.minScore <= 0 || !strength {
		return false, nil
	}
	defer func() {
		if r := recover(); r != nil {
			// zxcvbn is third-party pattern matching over arbitrary input;
			// a panic there must not take the request down. The panic value
			// is left out: it could quote the password.
			weak, err = false, ErrStrength
		}
	}()
	// zxcvbn treats each non-ASCII character as brute-force entropy, so
	// "жжжжжжжжжж" or "一一一一一一一一" scores as strong; a password of
	// fewer than minDistinct different characters is weak whatever it scores.
	if distinctRunes(nfkc, minDistinct) < minDistinct {
		return true, nil
	}
	if zxcvbn.PasswordStrength(password, inputs).Score < c.minScore {
		return true, nil
	}
	// The NFKC form is what is stored: fullwidth "ａａａａａａａａ" must not pass
	// as strong when it becomes "aaaaaaaa".
	if nfkc != password {
		return zxcvbn.PasswordStrength(nfkc, inputs).Score < c.minScore, nil
	}
	return false, nil
}

// minDistinct is the fewest different characters a password needs.
const minDistinct = 5

// distinctRunes counts the different code points of s, up to limit.
func distinctRunes(s string, limit int) int {
	seen := make([]rune, 0, limit)
	for _, r := range s {
		if !slices.Contains(seen, r) {
			seen = append(seen, r)
			if len(seen) >= limit {
				break
			}
		}
	}
	return len(seen)
}

// Reload opens the filter at path, or reopens the current source when path
// is "" (the same file, or the embedded default), and swaps it in. Checks
// running on the old filter finish on it; it is unmapped after the last.
// On error the current filter stays in place.
func (c *Checker) Reload(path string) error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	if path == "" {
		path = c.cur.Load().path
	}
	var f *Filter
	var err error
	if path == "" {
		f, err = OpenDefault()
	} else {
		f, err = Open(path)
	}
	if err != nil {
		return fmt.Errorf("breach: reload: %w", err)
	}
	if c.verify {
		if err := f.Verify(); err != nil {
			f.Close()
			return fmt.Errorf("breach: reload %s: %w", path, err)
		}
	}
	// The exact store is swapped first: until the filter follows, the old
	// filter's hits are confirmed by a store that holds all of them.
	if err := c.two.reload(f); err != nil {
		f.Close()
		return fmt.Errorf("breach: reload %s: exact store: %w", path, err)
	}
	l := &loaded{f: f, loadedAt: c.now(), path: path}
	old := c.cur.Swap(l)
	old.f.Close()
	c.startCopy(l)
	return nil
}

// Verify checks the checksum of every word of the filter being served
// (see Filter.Verify), holding it so a concurrent Reload cannot close it
// underneath; it also pages the filter in. A server can run it in the
// background after start-up and stay unready until it passes.
func (c *Checker) Verify() error {
	l, err := c.acquire()
	if err != nil {
		return err
	}
	defer l.f.release()
	return l.f.Verify()
}

// Problem reports why checks cannot run on the filter being served (its
// file changed in place while mapped: ErrFileChanged), or nil. Service is
// restored by a Reload of a valid file.
func (c *Checker) Problem() error {
	l, err := c.acquire()
	if err != nil {
		return err
	}
	defer l.f.release()
	return l.f.check()
}

// Info describes the loaded filter, for /readyz and metrics.
func (c *Checker) Info() safereset.FilterInfo {
	l := c.cur.Load()
	h := l.f.Header()
	return safereset.FilterInfo{
		Version:   h.Version,
		Elements:  h.N,
		Bits:      h.M,
		K:         h.K,
		TargetFPR: h.TargetFPR,
		LoadedAt:  l.loadedAt,
		BuiltAt:   h.BuiltAt,
		Source:    h.Source,
		Path:      l.path,
		Guard:     l.f.Guard(),
	}
}

// Close releases the filter; later checks return ErrClosed. Checks in
// flight finish first; a copy into memory in progress is abandoned.
func (c *Checker) Close() error {
	c.reloadMu.Lock()
	if c.closed.Swap(true) {
		c.reloadMu.Unlock()
		return nil
	}
	close(c.stop)
	c.reloadMu.Unlock()
	c.copies.Wait()
	if e := c.two.exact.Load(); e != nil {
		e.Close()
	}
	return c.cur.Load().f.Close()
}
