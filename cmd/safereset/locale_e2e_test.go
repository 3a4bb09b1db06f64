package main

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mailsTo returns subject and text of every mail in the outbox to addr.
func mailsTo(t *testing.T, s *testServer, addr string) (subjects, texts []string) {
	t.Helper()
	dir := filepath.Join(s.DataDir, "outbox")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !bytes.Contains(b, []byte("To: <"+addr+">")) && !bytes.Contains(b, []byte("To: "+addr)) {
			continue
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, subj)
		texts = append(texts, mailText(t, b))
	}
	return subjects, texts
}

// TestLocale_Mails: a user's stored locale (admin API, CLI, import) picks
// the language of both mails; users without one get --default-locale; an
// unshipped locale is refused.
func TestLocale_Mails(t *testing.T) {
	s := startServer(t, "", "--default-locale", "de", "--product-name", "Acme")
	key := s.apiKey("app")
	const pw = "Old-pass-1!xyzzy"

	if st := s.admin("POST", "/admin/v1/users", map[string]string{"emailAddress": "nl@example.com", "password": pw, "locale": "nl"}, nil); st != 201 {
		t.Fatalf("create with locale: %d", st)
	}
	if st := s.admin("POST", "/admin/v1/users", map[string]string{"emailAddress": "pt@example.com", "password": pw, "locale": "pt"}, nil); st != 400 {
		t.Fatalf("create with an unshipped locale: %d", st)
	}
	s.addUser("none@example.com", pw)
	// The CLI's --locale.
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"safereset", "user", "add", "--admin-url", s.Admin, "--data-dir", s.DataDir, "--locale", "fr", "fr@example.com"},
		func(string) string { return "" }, strings.NewReader(pw+"\n"), &out, &errOut)
	if err != nil {
		t.Fatalf("user add --locale: %v %s", err, errOut.String())
	}
	// An import line's locale.
	req, _ := http.NewRequest("POST", s.Admin+"/admin/v1/users/import", strings.NewReader(`{"emailAddress":"es@example.com","password":"`+pw+`","locale":"es"}`+"\n"))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"imported":1`) {
		t.Fatalf("import: %d %s", resp.StatusCode, b)
	}

	for _, tc := range []struct{ addr, subject, body string }{
		{"nl@example.com", "Je Acme-wachtwoord opnieuw instellen", "Was jij dat?"},
		{"none@example.com", "Ihr Acme-Passwort zurücksetzen", "Wenn Sie das waren"},
		{"fr@example.com", "Réinitialisez votre mot de passe Acme", "Si c’est vous"},
		{"es@example.com", "Restablece tu contraseña de Acme", "Si has sido tú"},
	} {
		if r := s.post(key, tc.addr); r.Status != 202 {
			t.Fatalf("request %s: %d", tc.addr, r.Status)
		}
		s.waitToken(tc.addr, 1)
		subjects, texts := mailsTo(t, s, tc.addr)
		if len(subjects) != 1 || subjects[0] != tc.subject || !strings.Contains(texts[0], tc.body) {
			t.Errorf("%s: subjects %q\n%s", tc.addr, subjects, strings.Join(texts, "\n---\n"))
		}
	}

	// The confirmation mail follows the locale too (reset through the API).
	tok := s.waitToken("nl@example.com", 1)
	const newPW = "kDWPe4qf$&mgM26&8hX"
	if r := s.patch(key, "nl@example.com", newPW, newPW, tok); r.Status != 204 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	subjects, _ := mailsTo(t, s, "nl@example.com")
	found := false
	for _, sj := range subjects {
		found = found || sj == "Je Acme-wachtwoord is gewijzigd"
	}
	if !found {
		t.Errorf("no Dutch confirmation mail: %q", subjects)
	}
}
