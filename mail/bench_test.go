package mail_test

import (
	"context"
	"testing"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/mail/mailtest"
)

func benchMessage(b *testing.B) safereset.Message {
	b.Helper()
	c, err := mail.NewComposer(mail.ComposerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := c.TokenMail("bob+tag@example.com", testToken, testExpiry)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkComposer_TokenMail is the rendering cost inside RequestReset's
// write transaction.
func BenchmarkComposer_TokenMail(b *testing.B) {
	c, err := mail.NewComposer(mail.ComposerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.TokenMail("bob+tag@example.com", testToken, testExpiry); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirSender_Send includes two fsyncs (file and directory).
func BenchmarkDirSender_Send(b *testing.B) {
	s, err := mail.NewDirSender(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage(b)
	for b.Loop() {
		if err := s.Send(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSMTPSender_Send is one full SMTP conversation (connect, EHLO,
// MAIL, RCPT, DATA, QUIT) to a loopback server.
func BenchmarkSMTPSender_Send(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []mailtest.Option
		tls  bool
	}{{"Plain", nil, false}, {"STARTTLS", []mailtest.Option{mailtest.WithSTARTTLS()}, true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := mailtest.Start(b, bc.opts...)
			cfg := mail.SMTPConfig{URL: srv.URL()}
			if bc.tls {
				cfg.URL += "?starttls=required"
				cfg.CAFile = srv.CAFile()
			}
			s, err := mail.NewSMTPSender(cfg)
			if err != nil {
				b.Fatal(err)
			}
			m := benchMessage(b)
			for b.Loop() {
				if err := s.Send(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
