package ratelimit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/safereset/safereset/ratelimit"
)

func TestParseRate(t *testing.T) {
	valid := []struct {
		in   string
		want ratelimit.Rate
		str  string
	}{
		{"0", ratelimit.Rate{}, "0"},
		{" 0 ", ratelimit.Rate{}, "0"},
		{"3-H", ratelimit.Rate{Limit: 3, Period: time.Hour}, "3-H"},
		{"10-h", ratelimit.Rate{Limit: 10, Period: time.Hour}, "10-H"},
		{"60-M", ratelimit.Rate{Limit: 60, Period: time.Minute}, "60-M"},
		{"2-S", ratelimit.Rate{Limit: 2, Period: time.Second}, "2-S"},
		{"1-D", ratelimit.Rate{Limit: 1, Period: 24 * time.Hour}, "1-D"},
		{"007-M", ratelimit.Rate{Limit: 7, Period: time.Minute}, "7-M"},
		{"9223372036854775807-S", ratelimit.Rate{Limit: 1<<63 - 1, Period: time.Second}, "9223372036854775807-S"},
	}
	for _, tc := range valid {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ratelimit.ParseRate(tc.in)
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseRate(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if got.Disabled() != (tc.want.Limit == 0) {
				t.Errorf("Disabled() = %v", got.Disabled())
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
		})
	}

	invalid := []string{
		"", " ", "abc", "3", "3-X", "-1-H", "+3-H", "3-", "-H", "3-HH", "3-H-", "0-H", "00-M",
		"3 -H", "3.5-H", "1e3-H", "3-Hour", "9223372036854775808-S", "３-H", "3–H",
	}
	for _, in := range invalid {
		t.Run("invalid/"+in, func(t *testing.T) {
			r, err := ratelimit.ParseRate(in)
			if !errors.Is(err, ratelimit.ErrBadRate) {
				t.Fatalf("ParseRate(%q) = %+v, %v; want ErrBadRate", in, r, err)
			}
		})
	}
}
