package server

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestClientName(t *testing.T) {
	key := []byte(strings.Repeat("k", LabelKeySize))
	other := []byte(strings.Repeat("o", LabelKeySize))
	for subject, want := range map[string]string{
		"shop":         "shop",
		"billing-v2.1": "billing-v2.1",
	} {
		if got := clientName(key, subject); got != want {
			t.Errorf("clientName(%q) = %q, want %q", subject, got, want)
		}
	}
	for _, subject := range []string{"jane@example.com", `x" level=ERROR msg="forged`, "a b", strings.Repeat("a", 65)} {
		got := clientName(key, subject)
		if !strings.HasPrefix(got, "hmac:") || len(got) != len("hmac:")+12 || strings.Contains(got, subject) {
			t.Errorf("clientName(%q) = %q, want a keyed hash", subject, got)
		}
		if clientName(key, subject) != got {
			t.Error("not stable")
		}
		// Whoever reads the label can hash a guess: without the key, the
		// guess's plain SHA-256 must not match, and another key must give
		// another label.
		sum := sha256.Sum256([]byte(subject))
		if strings.Contains(got, hex.EncodeToString(sum[:6])) {
			t.Errorf("clientName(%q) = %q is the unkeyed hash of the subject", subject, got)
		}
		if clientName(other, subject) == got {
			t.Errorf("clientName(%q) does not depend on the key", subject)
		}
	}
}
