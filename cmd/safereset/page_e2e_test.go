package main

import (
	"bytes"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/safereset/safereset/server"
)

// pageResponse is one answer of the reset page.
type pageResponse struct {
	Status int
	Header http.Header
	Body   string
}

func pageDo(t *testing.T, method, target, lang string, form url.Values) pageResponse {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pageResponse{resp.StatusCode, resp.Header, string(b)}
}

// mailLinks returns the text part of the newest mail to addr, and the
// reset link in it. The link is read from the mail as a user's mail
// program shows it, not built by the test.
func mailLink(t *testing.T, s *testServer, addr string, n int) (text, link string) {
	t.Helper()
	s.waitToken(addr, n)
	dir := filepath.Join(s.DataDir, "outbox")
	entries, _ := os.ReadDir(dir)
	var newest []byte
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(addr)) && tokenRE.Match(b) {
			newest = b
		}
	}
	text = mailText(t, newest)
	m := regexp.MustCompile(`http://\S+/reset\?\S+`).FindString(text)
	if m == "" {
		t.Fatalf("no reset link in the mail:\n%s", text)
	}
	return text, m
}

// mailText decodes the text/plain part of a raw message.
func mailText(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(msg.Body)
		return string(b)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, _ := io.ReadAll(p) // multipart.Part decodes quoted-printable
			return string(b)
		}
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// formValues are the hidden fields of the page's form.
func formValues(t *testing.T, body string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("token") == "" || v.Get("csrf") == "" {
		t.Fatalf("form without token or csrf:\n%s", body)
	}
	if m := regexp.MustCompile(`name="emailAddress" type="email" value="([^"]*)"`).FindStringSubmatch(body); m != nil {
		v.Set("emailAddress", html.UnescapeString(m[1]))
	}
	return v
}

func checkPageHeaders(t *testing.T, r pageResponse) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": server.PageCSP,
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Type":            "text/html; charset=utf-8",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(server.PageCSP, "frame-ancestors 'none'") || strings.Contains(server.PageCSP, "unsafe") {
		t.Errorf("CSP %q", server.PageCSP)
	}
	// No inline script or style, nothing from elsewhere.
	for _, bad := range []string{"<script>", "style=", "<style", "http://", "https://", "onload=", "onclick="} {
		if strings.Contains(r.Body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

// TestPage_ResetThroughForm walks the link of a real token mail: the GET
// changes nothing, a breached password is refused next to its field with
// the seed's texts, a good one is set, and the link is then spent.
func TestPage_ResetThroughForm(t *testing.T) {
	s := startServer(t, "")
	key := s.apiKey("app")
	const addr, oldPW, newPW = "page-user@example.com", "Old-pass-1!xyzzy", "kDWPe4qf$&mgM26&8hX"
	s.addUser(addr, oldPW)
	if r := s.post(key, addr); r.Status != 202 {
		t.Fatalf("request: %d", r.Status)
	}
	_, link := mailLink(t, s, addr, 1)
	link = strings.Replace(link, "http://localhost:8080", s.Base, 1)

	// A scanner opening the link twice consumes nothing.
	for range 2 {
		r := pageDo(t, "GET", link, "", nil)
		if r.Status != 200 {
			t.Fatalf("GET link: %d\n%s", r.Status, r.Body)
		}
		checkPageHeaders(t, r)
	}
	r := pageDo(t, "GET", link, "", nil)
	for _, want := range []string{`<html lang="en">`, "8 to 64 characters", "breached", `autocomplete="new-password"`, `<label for="password">`, `<label for="passwordVerify">`, `src="/reset/assets/page.js"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("form lacks %q", want)
		}
	}
	form := formValues(t, r.Body)
	if form.Get("emailAddress") != addr {
		t.Fatalf("email field %q", form.Get("emailAddress"))
	}

	// A breached password: ER349's seed texts next to the password field,
	// which gets focus; nothing changes.
	form.Set("password", "password1234")
	form.Set("passwordVerify", "password1234")
	r = pageDo(t, "POST", s.Base+"/reset", "", form)
	checkPageHeaders(t, r)
	if r.Status != 400 {
		t.Fatalf("breached: %d\n%s", r.Status, r.Body)
	}
	errBlock := regexp.MustCompile(`(?s)<p class="error" id="password-error">(.*?)</p>`).FindStringSubmatch(r.Body)
	if errBlock == nil || !strings.Contains(html.UnescapeString(errBlock[1]), "Password isn't strong enough, or has been found in a data breach.") ||
		!strings.Contains(html.UnescapeString(errBlock[1]), "We encourage the use of a password manager") {
		t.Fatalf("no ER349 next to the password field:\n%s", r.Body)
	}
	if !regexp.MustCompile(`id="password"[^>]*aria-describedby="password-error [^"]*"[^>]*aria-invalid="true"[^>]* autofocus`).MatchString(r.Body) {
		t.Errorf("password field not marked invalid, described by its error and focused:\n%s", r.Body)
	}
	if !s.verify(addr, oldPW) {
		t.Fatal("a refused form changed the password")
	}

	// Mismatched repeat: ER350 next to the repeat field.
	form = formValues(t, r.Body)
	form.Set("password", newPW)
	form.Set("passwordVerify", newPW+"x")
	r = pageDo(t, "POST", s.Base+"/reset", "", form)
	if r.Status != 400 || !strings.Contains(r.Body, `id="passwordVerify-error"`) || !strings.Contains(r.Body, "Password does not match the confirmation password.") {
		t.Fatalf("mismatch: %d\n%s", r.Status, r.Body)
	}

	form.Set("passwordVerify", newPW)
	r = pageDo(t, "POST", s.Base+"/reset", "", form)
	if r.Status != 200 || !strings.Contains(r.Body, "Your new password is set.") {
		t.Fatalf("good password: %d\n%s", r.Status, r.Body)
	}
	checkPageHeaders(t, r)
	if !s.verify(addr, newPW) || s.verify(addr, oldPW) {
		t.Fatal("the form did not set the new password")
	}

	// Single use: the same form again, and the link again, are refused.
	r = pageDo(t, "POST", s.Base+"/reset", "", form)
	if r.Status != 400 || !strings.Contains(r.Body, "Password reset token is invalid.") || strings.Contains(r.Body, "<form") {
		t.Fatalf("reused form: %d\n%s", r.Status, r.Body)
	}
	r = pageDo(t, "GET", link, "", nil)
	if r.Status != 400 || !strings.Contains(r.Body, "Password reset token is invalid.") || strings.Contains(r.Body, "<form") {
		t.Fatalf("spent link: %d\n%s", r.Status, r.Body)
	}
	// The API agrees: the token is spent for the PATCH route too.
	if pr := s.patch(key, addr, "An0ther-good-pass!", "An0ther-good-pass!", form.Get("token")); pr.Status != 400 || strings.Join(pr.Codes(), ",") != "ER352" {
		t.Fatalf("PATCH with the spent token: %d %v", pr.Status, pr.Codes())
	}
}

// TestPage_CSRF: a post whose CSRF value is missing, forged, or belongs to
// another token is refused and changes nothing.
func TestPage_CSRF(t *testing.T) {
	s := startServer(t, "")
	key := s.apiKey("app")
	const a, b, pw = "csrf-a@example.com", "csrf-b@example.com", "Old-pass-1!xyzzy"
	s.addUser(a, pw)
	s.addUser(b, pw)
	s.post(key, a)
	_, linkA := mailLink(t, s, a, 1)
	s.post(key, b)
	_, linkB := mailLink(t, s, b, 1)
	formA := formValues(t, pageDo(t, "GET", strings.Replace(linkA, "http://localhost:8080", s.Base, 1), "", nil).Body)
	formB := formValues(t, pageDo(t, "GET", strings.Replace(linkB, "http://localhost:8080", s.Base, 1), "", nil).Body)
	if formA.Get("csrf") == formB.Get("csrf") {
		t.Fatal("two tokens got the same CSRF value")
	}
	const newPW = "kDWPe4qf$&mgM26&8hX"
	for name, csrf := range map[string][]string{
		"Missing":     nil,
		"Forged":      {strings.Repeat("A", 43)},
		"OtherToken":  {formB.Get("csrf")},
		"Twice":       {formA.Get("csrf"), formA.Get("csrf")},
		"EmptyString": {""},
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range formA {
				f[k] = v
			}
			f["csrf"] = csrf
			f.Set("password", newPW)
			f.Set("passwordVerify", newPW)
			r := pageDo(t, "POST", s.Base+"/reset", "", f)
			if r.Status != 403 || !strings.Contains(r.Body, "This form is no longer valid.") {
				t.Fatalf("%d\n%s", r.Status, r.Body)
			}
			checkPageHeaders(t, r)
		})
	}
	if !s.verify(a, pw) {
		t.Fatal("a refused post changed the password")
	}
	// The untouched form still works: the refusals spent nothing.
	formA.Set("password", newPW)
	formA.Set("passwordVerify", newPW)
	if r := pageDo(t, "POST", s.Base+"/reset", "", formA); r.Status != 200 {
		t.Fatalf("genuine form after refusals: %d\n%s", r.Status, r.Body)
	}
}

// TestPage_BadRequests: what is not the page's form is answered with a
// page, never a stack trace or a change.
func TestPage_BadRequests(t *testing.T) {
	s := startServer(t, "")
	for _, tc := range []struct {
		name, ctype, body string
		want              int
	}{
		{"JSON", "application/json", `{"token":"x"}`, 415},
		{"NoType", "", "token=x", 415},
		{"Multipart", "multipart/form-data; boundary=x", "--x--", 415},
		{"BadEscape", "application/x-www-form-urlencoded", "token=%zz", 400},
		{"TooLarge", "application/x-www-form-urlencoded", "token=" + strings.Repeat("a", 17<<10), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.Base+"/reset", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := pageResponse{resp.StatusCode, resp.Header, string(b)}
			if r.Status != tc.want || !strings.Contains(r.Body, "</html>") {
				t.Fatalf("%d, want %d\n%s", r.Status, tc.want, r.Body)
			}
			checkPageHeaders(t, r)
		})
	}
	for _, q := range []string{"", "?token=zz&email=a@example.com", "?token=" + strings.Repeat("a", 32) + "&email=nobody@example.com", "?token=" + strings.Repeat("a", 32)} {
		r := pageDo(t, "GET", s.Base+"/reset"+q, "", nil)
		if r.Status != 400 || strings.Contains(r.Body, "<form") || !strings.Contains(r.Body, "This link cannot be used") {
			t.Errorf("GET /reset%s: %d\n%s", q, r.Status, r.Body)
		}
		checkPageHeaders(t, r)
	}
}

// TestPage_Assets: the stylesheet and the script come from the binary with
// their types; nothing else is served there.
func TestPage_Assets(t *testing.T) {
	s := startServer(t, "")
	for name, ctype := range map[string]string{"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"} {
		r := pageDo(t, "GET", s.Base+"/reset/assets/"+name, "", nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != ctype || len(r.Body) < 100 || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q %d bytes", name, r.Status, r.Header.Get("Content-Type"), len(r.Body))
		}
	}
	if r := pageDo(t, "GET", s.Base+"/reset/assets/..%2fpage.go", "", nil); r.Status != 404 {
		t.Errorf("unknown asset: %d", r.Status)
	}
	if js := pageDo(t, "GET", s.Base+"/reset/assets/page.js", "", nil).Body; !strings.Contains(js, "history.replaceState") {
		t.Error("the script does not drop the token from the address bar")
	}
}

// TestPage_Languages: the page follows Accept-Language with q values and
// regions; the product name is on the page and in the mail subject.
func TestPage_Languages(t *testing.T) {
	s := startServer(t, "", "--product-name", "Acme Login")
	key := s.apiKey("app")
	const addr = "lang@example.com"
	s.addUser(addr, "Old-pass-1!xyzzy")
	s.post(key, addr)
	_, link := mailLink(t, s, addr, 1)
	link = strings.Replace(link, "http://localhost:8080", s.Base, 1)
	for _, tc := range []struct{ header, lang, text string }{
		{"", "en", "Choose a new password"},
		{"nl-BE,nl;q=0.9,en;q=0.5", "nl", "Kies een nieuw wachtwoord"},
		{"de-CH;q=0.8, fr;q=1", "fr", "Choisissez un nouveau mot de passe"},
		{"es", "es", "Elige una contraseña nueva"},
		{"ja, de;q=0.3", "de", "Neues Passwort wählen"},
		{"ja", "en", "Choose a new password"},
	} {
		r := pageDo(t, "GET", link, tc.header, nil)
		if !strings.Contains(r.Body, `<html lang="`+tc.lang+`">`) || !strings.Contains(r.Body, tc.text) || r.Header.Get("Content-Language") != tc.lang {
			t.Errorf("Accept-Language %q: want %s\n%s", tc.header, tc.lang, r.Body)
		}
		if !strings.Contains(r.Body, "Acme Login") {
			t.Errorf("product name missing from the %s page", tc.lang)
		}
	}
	// A translated error next to its field.
	form := formValues(t, pageDo(t, "GET", link, "nl", nil).Body)
	form.Set("password", "short")
	form.Set("passwordVerify", "short")
	if r := pageDo(t, "POST", s.Base+"/reset", "nl", form); r.Status != 400 || !strings.Contains(r.Body, "Het wachtwoord is te kort.") {
		t.Errorf("Dutch ER122: %d\n%s", r.Status, r.Body)
	}
	// The API's answers stay the seed's English whatever the client asks for.
	req, _ := http.NewRequest("PATCH", s.Base+"/api/v1/user/reset-password", strings.NewReader(`{"emailAddress":"lang@example.com","password":"short","passwordVerify":"short","token":"`+form.Get("token")+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Accept-Language", "nl")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	apiBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(apiBody), `"message":"Invalid password length","solution":"Your password should be at least 8 characters in length."`) {
		t.Errorf("API answer under Accept-Language nl: %s", apiBody)
	}
	subjects := ""
	entries, _ := os.ReadDir(filepath.Join(s.DataDir, "outbox"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(s.DataDir, "outbox", e.Name()))
		if m, err := mail.ReadMessage(bytes.NewReader(b)); err == nil {
			subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			subjects += subj + "\n"
		}
	}
	if !strings.Contains(subjects, "Acme Login") {
		t.Errorf("product name not in the mail subject: %q", subjects)
	}
}

// TestPage_Off: --reset-page=false serves nothing at /reset.
func TestPage_Off(t *testing.T) {
	s := startServer(t, "", "--reset-page=false")
	for _, path := range []string{"/reset", "/reset/assets/page.css"} {
		if r := pageDo(t, "GET", s.Base+path, "", nil); r.Status != 404 {
			t.Errorf("GET %s: %d", path, r.Status)
		}
	}
	if r := pageDo(t, "POST", s.Base+"/reset", "", url.Values{"token": {"x"}}); r.Status != 404 && r.Status != 405 {
		t.Errorf("POST /reset: %d", r.Status)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "page.key")); !os.IsNotExist(err) {
		t.Errorf("page key made while the page is off: %v", err)
	}
}
