package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadRate is returned (wrapped, with the offending text) by ParseRate for
// a limit that is not "0" or of the form N-P.
var ErrBadRate = errors.New("invalid rate")

// Rate is a fixed-window limit: at most Limit requests per Period. The zero
// Rate (Limit 0) means the limit is disabled.
type Rate struct {
	Limit  int64
	Period time.Duration
}

// Disabled reports whether the rate switches its limit off.
func (r Rate) Disabled() bool { return r.Limit == 0 }

// String returns the rate in the form ParseRate reads ("3-H", or "0" when
// disabled).
func (r Rate) String() string {
	if r.Disabled() {
		return "0"
	}
	unit := ""
	for _, p := range periods {
		if p.d == r.Period {
			unit = p.unit
		}
	}
	if unit == "" {
		return fmt.Sprintf("%d-%s", r.Limit, r.Period)
	}
	return fmt.Sprintf("%d-%s", r.Limit, unit)
}

// periods are the window units of ulule/limiter's "N-P" form.
var periods = [...]struct {
	unit string
	d    time.Duration
}{
	{"S", time.Second},
	{"M", time.Minute},
	{"H", time.Hour},
	{"D", 24 * time.Hour},
}

// ParseRate reads a limit in ulule/limiter's form "N-P": N requests (a
// positive decimal integer) per period P, one of S (second), M (minute),
// H (hour) or D (day), upper or lower case. "0" disables the limit and
// returns the zero Rate. Surrounding white space is ignored.
//
// It is stricter than ulule's own parser: signs, "0-H" (which would refuse
// every request) and trailing garbage are errors, not surprises.
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return Rate{}, nil
	}
	n, p, ok := strings.Cut(t, "-")
	if t == "" || !ok {
		return Rate{}, fmt.Errorf("ratelimit: rate %q: %w: want N-P such as 3-H (N requests per S, M, H or D), or 0 to disable", s, ErrBadRate)
	}
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return Rate{}, fmt.Errorf("ratelimit: rate %q: %w: count %q is not a positive whole number", s, ErrBadRate, n)
		}
	}
	limit, err := strconv.ParseInt(n, 10, 64)
	if n == "" || err != nil {
		return Rate{}, fmt.Errorf("ratelimit: rate %q: %w: count %q is not a positive whole number", s, ErrBadRate, n)
	}
	if limit == 0 {
		return Rate{}, fmt.Errorf("ratelimit: rate %q: %w: a count of 0 would refuse every request; use 0 alone to disable the limit", s, ErrBadRate)
	}
	for _, u := range periods {
		if strings.EqualFold(p, u.unit) {
			return Rate{Limit: limit, Period: u.d}, nil
		}
	}
	return Rate{}, fmt.Errorf("ratelimit: rate %q: %w: unknown period %q (want S, M, H or D)", s, ErrBadRate, p)
}
