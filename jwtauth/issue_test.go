package jwtauth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/jwtauth"
)

func TestIssue_RoundTrip(t *testing.T) {
	clk := testclock.New(testNow)
	v := mustNew(t, jwtauth.Config{
		DataDir:  t.TempDir(),
		Issuer:   "safereset",
		Audience: "safereset-clients",
		Now:      clk.Now,
	})
	tok, err := v.Issue("billing-app", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := v.Verify(tok); err != nil || sub != "billing-app" {
		t.Fatalf("Verify(Issue()) = %q, %v; want billing-app", sub, err)
	}

	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "HS256" || parsed.Header["typ"] != "JWT" || parsed.Header["kid"] != nil {
		t.Errorf("header = %v, want alg HS256, typ JWT, no kid", parsed.Header)
	}
	c := parsed.Claims.(jwt.MapClaims)
	wantNum := map[string]time.Time{"iat": testNow, "nbf": testNow, "exp": testNow.Add(2 * time.Hour)}
	for name, want := range wantNum {
		if got, _ := c[name].(float64); int64(got) != want.Unix() {
			t.Errorf("%s = %v, want %d", name, c[name], want.Unix())
		}
	}
	if c["iss"] != "safereset" || c["sub"] != "billing-app" {
		t.Errorf("iss, sub = %v, %v", c["iss"], c["sub"])
	}
	if aud, err := c.GetAudience(); err != nil || len(aud) != 1 || aud[0] != "safereset-clients" {
		t.Errorf("aud = %v, %v", aud, err)
	}
	jti, _ := c["jti"].(string)
	if len(jti) < 22 {
		t.Errorf("jti = %q, want 128 random bits", jti)
	}
	other, err := v.Issue("billing-app", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if other == tok {
		t.Error("two issued tokens are identical (jti not random)")
	}

	// Valid until exp plus the leeway, then expired (ER801).
	clk.Set(testNow.Add(2*time.Hour + jwtauth.DefaultLeeway - time.Second))
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify just before exp+leeway: %v", err)
	}
	clk.Set(testNow.Add(2*time.Hour + jwtauth.DefaultLeeway))
	if _, err := v.Verify(tok); !errors.Is(err, safereset.ErrAuthExpired) || errors.Is(err, safereset.ErrAuthInvalid) {
		t.Errorf("Verify at exp+leeway: %v, want only ER801", err)
	}
}

func TestIssue_NotAcceptedElsewhere(t *testing.T) {
	a := mustNew(t, jwtauth.Config{DataDir: t.TempDir(), Now: fixedNow})
	b := mustNew(t, jwtauth.Config{DataDir: t.TempDir(), Now: fixedNow})
	tok, err := a.Issue("client-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok); !errors.Is(err, safereset.ErrAuthInvalid) {
		t.Errorf("another service's token: %v, want ER800", err)
	}

	// Same secret, different issuer or audience: refused.
	secret := mustRandom(t, 32)
	tests := []struct{ name, issIssuer, issAud, verIssuer, verAud string }{
		{"issuer", "other", "", "safereset", ""},
		{"audience", "", "other", "", "safereset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			minter := mustNew(t, jwtauth.Config{HS256Secret: secret, Issuer: tt.issIssuer, Audience: tt.issAud, Now: fixedNow})
			verifier := mustNew(t, jwtauth.Config{HS256Secret: secret, Issuer: tt.verIssuer, Audience: tt.verAud, Now: fixedNow})
			tok, err := minter.Issue("client-a", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifier.Verify(tok); !errors.Is(err, safereset.ErrAuthInvalid) {
				t.Errorf("token with the wrong %s: %v, want ER800", tt.name, err)
			}
		})
	}
}

func TestIssue_SurvivesCutOffInSameSecond(t *testing.T) {
	// An operator restarts with --jwt-not-before set to "now": tokens
	// issued right after the restart must still be accepted although iat
	// has only whole seconds.
	now := testNow.Add(900 * time.Millisecond)
	v := mustNew(t, jwtauth.Config{
		DataDir:   t.TempDir(),
		NotBefore: testNow.Add(700 * time.Millisecond),
		Now:       func() time.Time { return now },
	})
	tok, err := v.Issue("client-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("token issued after the cut-off refused: %v", err)
	}
}

func TestIssue_RefusesBadInput(t *testing.T) {
	v := mustNew(t, jwtauth.Config{DataDir: t.TempDir(), Now: fixedNow})
	tests := []struct {
		name    string
		subject string
		ttl     time.Duration
		want    error // nil: accepted
	}{
		{"plain", "billing-app", time.Hour, nil},
		{"one character", "x", time.Hour, nil},
		{"inner spaces and punctuation", "svc: billing app #2", time.Hour, nil},
		{"128 non-ASCII characters", strings.Repeat("é", 128), time.Hour, nil},
		{"minimum ttl", "a", jwtauth.MinTTL, nil},
		{"maximum ttl", "a", jwtauth.MaxTTL, nil},
		{"empty", "", time.Hour, jwtauth.ErrInvalidSubject},
		{"129 characters", strings.Repeat("x", 129), time.Hour, jwtauth.ErrInvalidSubject},
		{"leading space", " a", time.Hour, jwtauth.ErrInvalidSubject},
		{"trailing space", "a ", time.Hour, jwtauth.ErrInvalidSubject},
		{"newline", "a\nb", time.Hour, jwtauth.ErrInvalidSubject},
		{"tab", "a\tb", time.Hour, jwtauth.ErrInvalidSubject},
		{"NUL", "a\x00", time.Hour, jwtauth.ErrInvalidSubject},
		{"invalid UTF-8", "a\xff", time.Hour, jwtauth.ErrInvalidSubject},
		{"zero-width space", "a\u200bb", time.Hour, jwtauth.ErrInvalidSubject},
		{"zero ttl", "a", 0, jwtauth.ErrInvalidTTL},
		{"negative ttl", "a", -time.Hour, jwtauth.ErrInvalidTTL},
		{"59s", "a", 59 * time.Second, jwtauth.ErrInvalidTTL},
		{"30 days and a second", "a", jwtauth.MaxTTL + time.Second, jwtauth.ErrInvalidTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := v.Issue(tt.subject, tt.ttl)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Issue = %v, want %v", err, tt.want)
				}
				if tok != "" {
					t.Errorf("Issue returned a token with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if sub, err := v.Verify(tok); err != nil || sub != tt.subject {
				t.Fatalf("Verify(Issue(%q)) = %q, %v", tt.subject, sub, err)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"2026-01-02T15:04:05Z", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), false},
		{"2026-01-02T15:04:05+02:00", time.Date(2026, 1, 2, 13, 4, 5, 0, time.UTC), false},
		{"2026-01-02T15:04:05.5Z", time.Date(2026, 1, 2, 15, 4, 5, 5e8, time.UTC), false},
		{"2026-01-02", time.Time{}, true},
		{"2026-01-02 15:04:05Z", time.Time{}, true},
		{"2026-01-02T15:04:05", time.Time{}, true}, // no zone
		{"1767366245", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{strings.Repeat("9", 500), time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := jwtauth.ParseTime(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseTime(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "RFC 3339") || len(err.Error()) > 200 {
				t.Errorf("ParseTime(%.20q) error %q: want a short message naming RFC 3339", tt.in, err)
			}
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseTime_FeedsCutOff(t *testing.T) {
	cut, err := jwtauth.ParseTime("2026-11-27T11:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(testNow.Add(-2 * time.Hour)) // 10:00, before the cut-off
	dir := t.TempDir()
	before := mustNew(t, jwtauth.Config{DataDir: dir, Now: clk.Now})
	leaked, err := before.Issue("client-a", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(testNow) // 12:00: the operator restarts with the cut-off
	after := mustNew(t, jwtauth.Config{DataDir: dir, NotBefore: cut, Now: clk.Now})
	if _, err := after.Verify(leaked); !errors.Is(err, safereset.ErrAuthInvalid) || !strings.Contains(err.Error(), "cut-off") {
		t.Errorf("token issued before the cut-off: %v, want ER800 naming the cut-off", err)
	}
	fresh, err := after.Issue("client-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.Verify(fresh); err != nil {
		t.Errorf("token issued after the cut-off: %v", err)
	}
}
