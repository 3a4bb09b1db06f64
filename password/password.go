package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// Normalize returns the NFKC form of pw, the form that is hashed and stored.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// Length is the number of Unicode code points of pw after NFKC normalization.
func Length(pw string) int { return utf8.RuneCountInString(Normalize(pw)) }

// Params are the argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams are OWASP's argon2id baseline: m=19 MiB, t=2, p=1.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Validate reports parameters that are unusable or unsafe.
func (p Params) Validate() error {
	switch {
	case p.Memory < 8*1024:
		return errors.New("argon2 memory must be at least 8192 KiB")
	case p.Memory > 4*1024*1024:
		return errors.New("argon2 memory must be at most 4 GiB")
	case p.Time < 1 || p.Time > 100:
		return errors.New("argon2 time must be between 1 and 100")
	case p.Threads < 1:
		return errors.New("argon2 parallelism must be at least 1")
	case p.SaltLen < 16 || p.KeyLen < 16:
		return errors.New("argon2 salt and key must be at least 16 bytes")
	}
	return nil
}

// ErrUnsupportedHash is returned for a stored hash that is neither an
// argon2id nor a bcrypt PHC string.
var ErrUnsupportedHash = errors.New("password: unsupported hash format")

// Hasher computes and verifies password hashes through a semaphore.
type Hasher struct {
	params Params
	sem    chan struct{}
	// started is called when a hash starts waiting; the func it returns when
	// the hash is done (metrics hook; may be nil).
	started func() func()
}

// NewHasher returns a Hasher with at most concurrency hashes at once.
// started may be nil; otherwise it is called as each hash begins and the
// func it returns as it ends.
func NewHasher(p Params, concurrency int, started func() (done func())) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if concurrency < 1 {
		return nil, errors.New("hash concurrency must be at least 1")
	}
	return &Hasher{params: p, sem: make(chan struct{}, concurrency), started: started}, nil
}

func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	done := func() {}
	if h.started != nil {
		done = h.started()
	}
	select {
	case h.sem <- struct{}{}:
		return func() { <-h.sem; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// Do runs f in one of the hasher's slots, waiting for a free one as Hash
// does. It bounds other CPU-heavy work per request (the zxcvbn strength
// estimate costs up to tens of milliseconds on crafted 64-character
// passwords) by the same budget as hashing.
func (h *Hasher) Do(ctx context.Context, f func()) error {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.sem }()
	f()
	return nil
}

// Hash returns the argon2id PHC string of the NFKC form of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	p := h.params
	key := argon2.IDKey([]byte(Normalize(pw)), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether pw matches the stored PHC string (argon2id or
// bcrypt). The NFKC form is tried first, then the raw form, so hashes
// imported from systems that did not normalize still verify.
func (h *Hasher) Verify(ctx context.Context, pw, phc string) (bool, error) {
	if strings.HasPrefix(phc, "$2a$") || strings.HasPrefix(phc, "$2b$") || strings.HasPrefix(phc, "$2y$") {
		if err := CheckPHC(phc); err != nil {
			return false, err
		}
		release, err := h.acquire(ctx)
		if err != nil {
			return false, err
		}
		defer release()
		for _, cand := range candidates(pw) {
			if bcrypt.CompareHashAndPassword([]byte(phc), []byte(cand)) == nil {
				return true, nil
			}
		}
		return false, nil
	}
	a, err := parseArgon2id(phc)
	if err != nil {
		return false, err
	}
	if err := a.p.checkStored(h.params); err != nil {
		return false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	for _, cand := range candidates(pw) {
		key := argon2.IDKey([]byte(cand), a.salt, a.p.Time, a.p.Memory, a.p.Threads, uint32(len(a.key)))
		if subtle.ConstantTimeCompare(key, a.key) == 1 {
			return true, nil
		}
	}
	return false, nil
}

func candidates(pw string) []string {
	if n := Normalize(pw); n != pw {
		return []string{n, pw}
	}
	return []string{pw}
}

// CheckPHC reports whether s is a stored hash this package can verify, so
// imports are refused up front instead of locking a user out later.
func CheckPHC(s string) error {
	if strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$") {
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil {
			return fmt.Errorf("%w: bad bcrypt hash", ErrUnsupportedHash)
		}
		if cost > MaxStoredBcryptCost {
			return fmt.Errorf("%w: bcrypt cost %d above %d", ErrUnsupportedHash, cost, MaxStoredBcryptCost)
		}
		return nil
	}
	a, err := parseArgon2id(s)
	if err != nil {
		return err
	}
	return a.p.checkStored(Params{})
}

// Limits on the cost of a stored hash that is imported, not made here. An
// imported argon2id m=4 GiB or bcrypt cost 31 hash would hold a hashing
// slot for minutes to hours (or allocate 4 GiB) at every verify.
const (
	MaxStoredArgonMemory = 256 * 1024 // KiB
	MaxStoredArgonTime   = 16
	MaxStoredArgonLanes  = 16
	MaxStoredBcryptCost  = 14
)

// checkStored refuses a stored hash costlier than the limits above or than
// own, the parameters this server hashes with, whichever is higher.
func (p Params) checkStored(own Params) error {
	if p.Memory > max(MaxStoredArgonMemory, own.Memory) || p.Time > max(MaxStoredArgonTime, own.Time) ||
		p.Threads > max(MaxStoredArgonLanes, own.Threads) {
		return fmt.Errorf("%w: argon2id cost above m=%d KiB, t=%d, p=%d", ErrUnsupportedHash,
			MaxStoredArgonMemory, MaxStoredArgonTime, MaxStoredArgonLanes)
	}
	return nil
}

var b64 = base64.RawStdEncoding

type argonHash struct {
	p         Params
	salt, key []byte
}

func parseArgon2id(s string) (argonHash, error) {
	var a argonHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return a, ErrUnsupportedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return a, fmt.Errorf("%w: argon2 version", ErrUnsupportedHash)
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return a, fmt.Errorf("%w: argon2 parameters", ErrUnsupportedHash)
		}
		switch k {
		case "m":
			a.p.Memory = uint32(n)
		case "t":
			a.p.Time = uint32(n)
		case "p":
			if n > 255 {
				return a, fmt.Errorf("%w: argon2 parameters", ErrUnsupportedHash)
			}
			a.p.Threads = uint8(n)
		default:
			return a, fmt.Errorf("%w: argon2 parameters", ErrUnsupportedHash)
		}
	}
	if a.p.Memory == 0 || a.p.Time == 0 || a.p.Threads == 0 {
		return a, fmt.Errorf("%w: argon2 parameters", ErrUnsupportedHash)
	}
	var err error
	if a.salt, err = b64.DecodeString(parts[4]); err != nil || len(a.salt) < 8 {
		return a, fmt.Errorf("%w: argon2 salt", ErrUnsupportedHash)
	}
	if a.key, err = b64.DecodeString(parts[5]); err != nil || len(a.key) < 16 || len(a.key) > 128 {
		return a, fmt.Errorf("%w: argon2 key", ErrUnsupportedHash)
	}
	return a, nil
}
