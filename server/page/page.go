package page

import (
	"bytes"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/safereset/safereset"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/page.css assets/page.js
var assetFS embed.FS

// Assets returns the stylesheet and the script, served from the binary.
func Assets() fs.FS {
	sub, _ := fs.Sub(assetFS, "assets")
	return sub
}

// Problem is a text shown to the user: what went wrong and what to do.
type Problem struct {
	Message, Solution string
}

// The fields a problem can be shown next to.
const (
	FieldEmail    = "email"
	FieldPassword = "password"
	FieldVerify   = "passwordVerify"
)

// fieldOrder is the order of the form's fields, for focusing the first error.
var fieldOrder = []string{FieldEmail, FieldPassword, FieldVerify}

// Form is what the form page shows.
type Form struct {
	Product string
	// Assets is the path the stylesheet and script are served under.
	Assets, Action     string
	Token, Email, CSRF string
	// Errors are problems by field; Alert is one that concerns no field.
	Errors map[string][]Problem
	Alert  *Problem
}

// Message is a page without a form: the link is unusable, the password
// was set, or something failed.
type Message struct {
	Product, Assets string
	Title           string
	Alert           *Problem
	Success         bool
	Paragraphs      []string
}

type view struct {
	T          *Texts
	Title      string
	Product    string
	Assets     string
	Action     string
	Token      string
	Email      string
	CSRF       string
	Errors     map[string][]Problem
	First      string
	Alert      *Problem
	Success    bool
	Paragraphs []string
}

// Renderer renders the reset page's templates.
type Renderer struct {
	form, message, notMe *template.Template
}

// New parses the embedded templates.
func New() (*Renderer, error) {
	base, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	parse := func(name string) (*template.Template, error) {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		return t.ParseFS(templateFS, "templates/"+name)
	}
	r := &Renderer{}
	if r.form, err = parse("form.html"); err != nil {
		return nil, err
	}
	if r.message, err = parse("message.html"); err != nil {
		return nil, err
	}
	if r.notMe, err = parse("notme.html"); err != nil {
		return nil, err
	}
	return r, nil
}

// Form writes the form page in lang.
func (r *Renderer) Form(w io.Writer, lang string, f Form) error {
	t := TextsFor(lang)
	v := view{T: t, Title: t.TitleForm, Product: f.Product, Assets: f.Assets, Action: f.Action,
		Token: f.Token, Email: f.Email, CSRF: f.CSRF, Errors: f.Errors, Alert: f.Alert}
	for _, name := range fieldOrder {
		if len(f.Errors[name]) > 0 {
			v.First = name
			break
		}
	}
	return execute(w, r.form, v)
}

// LockForm is what the "this wasn't me" page shows: one button that
// posts the lock token to Action.
type LockForm struct {
	Product, Assets, Action string
	Token, Email, CSRF      string
}

// NotMe writes the "this wasn't me" page in lang.
func (r *Renderer) NotMe(w io.Writer, lang string, f LockForm) error {
	t := TextsFor(lang)
	v := view{T: t, Title: t.TitleNotMe, Product: f.Product, Assets: f.Assets, Action: f.Action,
		Token: f.Token, Email: f.Email, CSRF: f.CSRF}
	return execute(w, r.notMe, v)
}

// Message writes a page without a form in lang.
func (r *Renderer) Message(w io.Writer, lang string, m Message) error {
	v := view{T: TextsFor(lang), Title: m.Title, Product: m.Product, Assets: m.Assets, Alert: m.Alert,
		Success: m.Success, Paragraphs: m.Paragraphs}
	return execute(w, r.message, v)
}

// execute renders into a buffer first so that a template error never
// leaves half a page on the wire.
func execute(w io.Writer, t *template.Template, v view) error {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Languages are the shipped languages, the first the fallback.
var Languages = safereset.Locales()

// Supported reports whether lang is a shipped language.
func Supported(lang string) bool {
	_, ok := texts[lang]
	return ok
}

// Negotiate picks the shipped language the Accept-Language header prefers
// most (RFC 9110 §12.5.4; a region such as nl-BE matches nl), else
// fallback.
func Negotiate(acceptLanguage, fallback string) string {
	best, bestQ := "", 0.0
	for i, part := range strings.Split(acceptLanguage, ",") {
		if i >= 32 {
			break // a header this long is not a browser's
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if p := strings.TrimSpace(params); p != "" {
			k, val, ok := strings.Cut(p, "=")
			if !ok || strings.TrimSpace(k) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if q > bestQ && Supported(primary) {
			best, bestQ = primary, q
		}
	}
	if best == "" {
		if Supported(fallback) {
			return fallback
		}
		return Languages[0]
	}
	return best
}

// CodeProblem is the text of a catalog code in lang: the translation where
// there is one, else the seed's English.
func CodeProblem(lang string, code safereset.Code) Problem {
	if p, ok := TextsFor(lang).Codes[code]; ok {
		return p
	}
	e, ok := safereset.Lookup(code)
	if !ok {
		e, _ = safereset.Lookup(safereset.ER999)
	}
	return Problem{Message: e.Message, Solution: e.Solution}
}
