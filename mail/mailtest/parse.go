package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Parsed is a received message taken apart: its headers and its decoded
// text and HTML bodies.
type Parsed struct {
	Header      mail.Header
	Subject     string // decoded (RFC 2047)
	ContentType string // media type of the top-level body, e.g. "multipart/alternative"
	Text        string // decoded text/plain part
	HTML        string // decoded text/html part, "" if none
}

// Parse parses raw as an RFC 5322 message (a DirSender .eml file or the
// data an SMTP server received) and decodes its text and HTML parts.
func Parse(raw []byte) (Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Parsed{}, fmt.Errorf("mailtest: parse: %w", err)
	}
	p := Parsed{Header: msg.Header}
	p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Parsed{}, fmt.Errorf("mailtest: parse subject: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Parsed{}, fmt.Errorf("mailtest: parse content type: %w", err)
	}
	p.ContentType = mt
	if err := p.walk(mt, params, msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Parsed{}, err
	}
	if p.Text == "" && p.HTML == "" {
		return Parsed{}, errors.New("mailtest: parse: no text or html part")
	}
	return p, nil
}

func (p *Parsed) walk(mt string, params map[string]string, cte string, body io.Reader) error {
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailtest: parse multipart: %w", err)
			}
			pmt, pparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
			if err != nil {
				return fmt.Errorf("mailtest: parse part content type: %w", err)
			}
			if err := p.walk(pmt, pparams, part.Header.Get("Content-Transfer-Encoding"), part); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	case "", "7bit", "8bit", "binary":
	default:
		return fmt.Errorf("mailtest: parse: unknown transfer encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("mailtest: parse body: %w", err)
	}
	// Normalise CRLF so tests can compare with rendered templates.
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mt {
	case "text/plain":
		if p.Text == "" {
			p.Text = s
		}
	case "text/html":
		if p.HTML == "" {
			p.HTML = s
		}
	}
	return nil
}

// newlineStripper drops CR and LF so base64 lines decode as one stream.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(b []byte) (int, error) {
	for {
		k, err := n.r.Read(b)
		j := 0
		for _, c := range b[:k] {
			if c != '\r' && c != '\n' {
				b[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
