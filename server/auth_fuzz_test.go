package server

import (
	"strings"
	"testing"
)

// FuzzBearerToken: the one Bearer parser (client JWTs and the admin token)
// returns either nothing or a non-empty suffix of its input with no white
// space, after a "Bearer" scheme in any case and spaces.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Basic x", "Bearer ", "Bearer a b", "Bearer\ta.b.c", "BEARER x", "Bearer a\r\nb", "Bearerx y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearerToken(h)
		if !ok {
			if tok != "" {
				t.Fatalf("refused %q but returned %q", h, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") || !strings.HasSuffix(h, tok) {
			t.Fatalf("bearerToken(%q) = %q", h, tok)
		}
		if rest := strings.TrimRight(strings.TrimSuffix(h, tok), " "); !strings.EqualFold(rest, "Bearer") {
			t.Fatalf("accepted %q with scheme %q", h, rest)
		}
	})
}
