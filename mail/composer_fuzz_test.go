package mail

import (
	"bytes"
	"mime"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// FuzzTokenMailHeaders renders a token mail for any recipient, token and
// product name, through both encodings the senders use, and parses the
// result: the only headers are the ones safereset writes, To is exactly
// the recipient, the Subject decodes to exactly what was composed, and the
// token never reaches a header. A recipient the sender would not accept
// is refused, never rewritten.
func FuzzTokenMailHeaders(f *testing.F) {
	for _, s := range [][3]string{
		{"jane@example.com", "0123456789abcdef0123456789abcdef", "safereset"},
		{"jane@example.com\r\nBcc: evil@example.com", "00", "safereset"},
		{"jane@example.com", "00", "Shop\r\nBcc: evil@example.com"},
		{"\"x\r\n\"@example.com", "\r\n\r\n", "Prod\nX-Injected: 1"},
		{"Jane <jane@example.com>", "tok", "Ünïcödé ✓"},
		{"jane@example.com", "tok", strings.Repeat("very long product name ", 10)},
	} {
		f.Add(s[0], s[1], s[2])
	}
	allowed := map[string]bool{"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true,
		"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}
	from, err := parseFrom("noreply@app.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, to, token, product string) {
		c, err := NewComposer(ComposerConfig{Product: product, ResetURL: "https://app.example/reset?t={token}&e={email}"})
		if err != nil {
			return // a product name the composer refuses at start
		}
		m, err := c.TokenMail(to, token, time.Unix(1e9, 0))
		if err != nil {
			t.Fatalf("TokenMail: %v", err)
		}
		for _, enc := range []gomail.Encoding{gomail.EncodingQP, gomail.NoEncoding} {
			msg, err := newMsg(m, from, enc, time.Unix(1e9, 0))
			if err != nil {
				return // recipient refused
			}
			var buf bytes.Buffer
			if _, err := msg.WriteTo(&buf); err != nil {
				return // go-mail refused to write it: nothing is sent
			}
			parsed, err := netmail.ReadMessage(&buf)
			if err != nil {
				t.Fatalf("the written message does not parse: %v", err)
			}
			for k, vs := range parsed.Header {
				if !allowed[k] {
					t.Fatalf("header %q in the mail (to %q, product %q)", k, to, product)
				}
				if len(vs) != 1 {
					t.Fatalf("header %q appears %d times", k, len(vs))
				}
				// A token that is itself part of the recipient or the
				// product name shows up where those belong; that is the
				// fuzzer's choice of inputs, not a leak.
				if len(token) >= 8 && strings.Contains(vs[0], token) && !strings.Contains(to, token) && !strings.Contains(product, token) {
					t.Fatalf("the token reached header %s", k)
				}
			}
			got, err := netmail.ParseAddress(parsed.Header.Get("To"))
			want, _ := netmail.ParseAddress(to)
			if err != nil || want == nil || got.Address != want.Address {
				t.Fatalf("To %q, composed for %q", parsed.Header.Get("To"), to)
			}
			// A subject that itself spells an RFC 2047 encoded word is sent
			// as the ASCII it is and decoded by the reader: a display
			// matter inside the one Subject header, not an injection.
			subj, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
			if !strings.Contains(m.Subject, "=?") && (err != nil || normSpace(subj) != normSpace(m.Subject)) {
				t.Fatalf("Subject %q, composed %q", subj, m.Subject)
			}
		}
	})
}

// normSpace folds runs of white space, as header folding may.
func normSpace(s string) string { return strings.Join(strings.Fields(s), " ") }
