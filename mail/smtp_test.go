package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/mail/mailtest"
)

const waitTimeout = 10 * time.Second

func tokenMessage(t *testing.T, to string) safereset.Message {
	t.Helper()
	m, err := mustComposer(t, mail.ComposerConfig{ResetURL: "https://app.example.com/reset?token={token}&email={email}"}).TokenMail(to, testToken, testExpiry)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSMTP(t *testing.T, cfg mail.SMTPConfig) *mail.SMTPSender {
	t.Helper()
	s, err := mail.NewSMTPSender(cfg)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

// checkSafeError fails when err's text leaks the address, token or password.
func checkSafeError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, testToken, "example.com", "exämple") {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestSMTPSender_Delivered(t *testing.T) {
	tests := []struct {
		name string
		to   string
	}{
		{"ASCII", "bob+tag@example.com"},
		{"Unicode", "jürgen@exämple.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.Start(t)
			s := mustSMTP(t, mail.SMTPConfig{URL: srv.URL(), From: "Reset <noreply@example.org>"})
			if err := s.Send(context.Background(), tokenMessage(t, tt.to)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.WaitFor(1, waitTimeout)
			got := msgs[0]
			if got.From != "noreply@example.org" || len(got.To) != 1 || got.To[0] != tt.to {
				t.Errorf("envelope from %q to %q", got.From, got.To)
			}
			if got.TLS {
				t.Error("plain server reported TLS")
			}
			p, err := got.Parse()
			if err != nil {
				t.Fatal(err)
			}
			if p.ContentType != "multipart/alternative" {
				t.Errorf("content type %q", p.ContentType)
			}
			if !strings.Contains(p.Text, "token="+testToken+"&email=") || !strings.Contains(p.HTML, testToken) {
				t.Errorf("token link missing from decoded body:\n%s", p.Text)
			}
			head, _, _ := strings.Cut(string(got.Data), "\r\n\r\n")
			if strings.Contains(head, testToken) {
				t.Errorf("token in headers:\n%s", head)
			}
			for _, h := range []string{"Message-Id", "Date", "From", "To", "Subject"} {
				if p.Header.Get(h) == "" {
					t.Errorf("header %s missing", h)
				}
			}
		})
	}
}

func TestSMTPSender_Failures(t *testing.T) {
	tests := []struct {
		name       string
		behavior   mailtest.Behavior
		permanent  bool
		wantReason string
	}{
		{"Data4xx", mailtest.Reply(451), false, "DATA rejected: 451"},
		{"Data5xx", mailtest.Reply(554), true, "DATA rejected: 554"},
		{"Rcpt5xx", mailtest.Behavior{Stage: mailtest.StageRcpt, Code: 550, Message: "no such user bob+tag@example.com"}, true, "RCPT TO rejected: 550"},
		{"Rcpt4xx", mailtest.Behavior{Stage: mailtest.StageRcpt, Code: 452}, false, "RCPT TO rejected: 452"},
		{"Mail5xx", mailtest.Behavior{Stage: mailtest.StageMail, Code: 553}, true, "MAIL FROM rejected: 553"},
		{"DropAfterData", mailtest.Behavior{Drop: true}, false, "smtp"},
		{"DropAtRcpt", mailtest.Behavior{Drop: true, Stage: mailtest.StageRcpt}, false, "smtp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.Start(t)
			srv.Script(tt.behavior)
			s := mustSMTP(t, mail.SMTPConfig{URL: srv.URL()})
			err := s.Send(context.Background(), tokenMessage(t, "bob+tag@example.com"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, safereset.ErrMailPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tt.permanent, err)
			}
			var se *mail.SendError
			if !errors.As(err, &se) || !strings.Contains(se.Reason, tt.wantReason) {
				t.Errorf("reason of %v does not contain %q", err, tt.wantReason)
			}
			checkSafeError(t, err)
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
			// The next message goes through: one failure does not wedge the sender.
			if err := s.Send(context.Background(), tokenMessage(t, "bob+tag@example.com")); err != nil {
				t.Fatalf("second Send: %v", err)
			}
			srv.WaitFor(1, waitTimeout)
		})
	}
}

func TestSMTPSender_ServerDown(t *testing.T) {
	srv := mailtest.Start(t)
	s := mustSMTP(t, mail.SMTPConfig{URL: srv.URL()})
	srv.Stop()
	err := s.Send(context.Background(), tokenMessage(t, "bob@example.com"))
	if err == nil || errors.Is(err, safereset.ErrMailPermanent) {
		t.Fatalf("Send to a stopped server: %v, want temporary error", err)
	}
	if !strings.Contains(err.Error(), "connection failed") {
		t.Errorf("error %q", err)
	}
	srv.Restart()
	if err := s.Send(context.Background(), tokenMessage(t, "bob@example.com")); err != nil {
		t.Fatalf("Send after Restart: %v", err)
	}
	srv.WaitFor(1, waitTimeout)
}

func TestSMTPSender_Timeout(t *testing.T) {
	srv := mailtest.Start(t)
	srv.SetDefault(mailtest.Behavior{Delay: time.Hour})
	tests := []struct {
		name string
		cfg  time.Duration
		ctx  time.Duration
	}{
		{"ConfigTimeout", 200 * time.Millisecond, 0},
		{"ContextDeadline", time.Hour, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSMTP(t, mail.SMTPConfig{URL: srv.URL(), Timeout: tt.cfg})
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			err := s.Send(ctx, tokenMessage(t, "bob@example.com"))
			if err == nil || errors.Is(err, safereset.ErrMailPermanent) {
				t.Fatalf("Send: %v, want temporary error", err)
			}
			if !strings.Contains(err.Error(), "timeout") {
				t.Errorf("error %q does not say timeout", err)
			}
		})
	}
}

func TestSMTPSender_TLS(t *testing.T) {
	plain := mailtest.Start(t)
	withTLS := mailtest.Start(t, mailtest.WithSTARTTLS())
	implicit := mailtest.Start(t, mailtest.WithImplicitTLS())
	tests := []struct {
		name    string
		srv     *mailtest.Server
		query   string
		caFile  string
		wantErr string // "" = delivered
		wantTLS bool
	}{
		{"RequiredButNotOffered", plain, "?starttls=required", "", "STARTTLS required", false},
		{"OpportunisticWithoutSTARTTLS", plain, "", "", "", false},
		{"RequiredWithCA", withTLS, "?starttls=required", withTLS.CAFile(), "", true},
		{"OpportunisticWithCA", withTLS, "", withTLS.CAFile(), "", true},
		{"UntrustedCert", withTLS, "", "", "TLS certificate not trusted", false},
		{"Off", withTLS, "?starttls=off", "", "", false},
		{"ImplicitWithCA", implicit, "", implicit.CAFile(), "", true},
		{"ImplicitUntrusted", implicit, "", "", "TLS certificate not trusted", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.srv.Messages())
			s := mustSMTP(t, mail.SMTPConfig{URL: tt.srv.URL() + tt.query, CAFile: tt.caFile})
			err := s.Send(context.Background(), tokenMessage(t, "bob@example.com"))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatal("Send succeeded")
				}
				if errors.Is(err, safereset.ErrMailPermanent) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want temporary %q", err, tt.wantErr)
				}
				if len(tt.srv.Messages()) != before {
					t.Error("message was delivered anyway")
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := tt.srv.WaitFor(before+1, waitTimeout)
			if got := msgs[len(msgs)-1].TLS; got != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", got, tt.wantTLS)
			}
		})
	}
}

func TestSMTPSender_Auth(t *testing.T) {
	const pass = "s3cr&t:p@ss/word"
	srv := mailtest.Start(t, mailtest.WithAuth("relayuser", pass), mailtest.WithSTARTTLS())
	t.Run("Good", func(t *testing.T) {
		s := mustSMTP(t, mail.SMTPConfig{URL: srv.URL() + "?starttls=required", CAFile: srv.CAFile()})
		if err := s.Send(context.Background(), tokenMessage(t, "bob@example.com")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		m := srv.WaitFor(1, waitTimeout)[0]
		if m.AuthUser != "relayuser" || !m.TLS {
			t.Errorf("AuthUser %q TLS %v", m.AuthUser, m.TLS)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		s := mustSMTP(t, mail.SMTPConfig{URL: "smtp://relayuser:wrong-pw-123@" + srv.Addr(), CAFile: srv.CAFile()})
		err := s.Send(context.Background(), tokenMessage(t, "bob@example.com"))
		if err == nil || errors.Is(err, safereset.ErrMailPermanent) {
			t.Fatalf("Send: %v, want temporary error", err)
		}
		if !strings.Contains(err.Error(), "AUTH") {
			t.Errorf("error %q does not mention AUTH", err)
		}
		checkSafeError(t, err, "wrong-pw-123", "relayuser")
	})
	t.Run("NoSTARTTLSOffered", func(t *testing.T) {
		// A relay that offers no STARTTLS, with credentials in the URL and
		// no starttls parameter: nothing may cross the wire in clear.
		plain := mailtest.Start(t, mailtest.WithAuth("relayuser", pass))
		s := mustSMTP(t, mail.SMTPConfig{URL: plain.URL()})
		err := s.Send(context.Background(), tokenMessage(t, "bob@example.com"))
		if err == nil || errors.Is(err, safereset.ErrMailPermanent) {
			t.Fatalf("Send: %v, want a temporary error", err)
		}
		if !strings.Contains(err.Error(), "STARTTLS required but not offered") {
			t.Errorf("error %q does not say STARTTLS is required", err)
		}
		checkSafeError(t, err, pass, "relayuser")
		if n := len(plain.Messages()); n != 0 {
			t.Fatalf("%d messages delivered over a clear connection", n)
		}
	})
	t.Run("NoSTARTTLSOptOut", func(t *testing.T) {
		plain := mailtest.Start(t, mailtest.WithAuth("relayuser", pass))
		s := mustSMTP(t, mail.SMTPConfig{URL: plain.URL() + "?starttls=none"})
		if err := s.Send(context.Background(), tokenMessage(t, "bob@example.com")); err != nil {
			t.Fatalf("Send with starttls=none: %v", err)
		}
		if m := plain.WaitFor(1, waitTimeout)[0]; m.AuthUser != "relayuser" || m.TLS {
			t.Errorf("AuthUser %q TLS %v", m.AuthUser, m.TLS)
		}
	})
	t.Run("NoCredentials", func(t *testing.T) {
		s := mustSMTP(t, mail.SMTPConfig{URL: "smtp://" + srv.Addr(), CAFile: srv.CAFile()})
		err := s.Send(context.Background(), tokenMessage(t, "bob@example.com"))
		if err == nil {
			t.Fatal("Send without AUTH succeeded")
		}
		if !strings.Contains(err.Error(), "MAIL FROM rejected: 530") {
			t.Errorf("error %q", err)
		}
	})
}

func TestNewSMTPSender_Errors(t *testing.T) {
	const pw = "hunter2secret"
	tests := []struct {
		name    string
		cfg     mail.SMTPConfig
		wantErr string
	}{
		{"Empty", mail.SMTPConfig{}, "empty"},
		{"Scheme", mail.SMTPConfig{URL: "http://u:" + pw + "@host:25"}, "scheme"},
		{"BadPort", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host:99999"}, "port"},
		{"UnparseablePort", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host:abc"}, "not a valid URL"},
		{"Unparseable", mail.SMTPConfig{URL: "smtp://u:" + pw + "@ho st"}, "not a valid URL"},
		{"NoHost", mail.SMTPConfig{URL: "smtp://u:" + pw + "@:25"}, "missing host"},
		{"Path", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host/x"}, "no path"},
		{"UnknownParam", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host?tls=yes"}, "unknown parameter"},
		{"BadStarttls", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host?starttls=maybe"}, "starttls must be"},
		{"OpportunisticWithCredentials", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host?starttls=opportunistic"}, "in clear"},
		{"StarttlsOnSMTPS", mail.SMTPConfig{URL: "smtps://u:" + pw + "@host?starttls=required"}, "smtps"},
		{"EmptyUser", mail.SMTPConfig{URL: "smtp://:" + pw + "@host"}, "empty user"},
		{"BadFrom", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host", From: "nope"}, "from address"},
		{"MissingCA", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host", CAFile: "/nonexistent/ca.pem"}, "CA file"},
		{"NegativeTimeout", mail.SMTPConfig{URL: "smtp://u:" + pw + "@host", Timeout: -1}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mail.NewSMTPSender(tt.cfg)
			if err == nil {
				t.Fatal("NewSMTPSender succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error echoes the password: %q", err)
			}
		})
	}
	if _, err := mail.NewSMTPSender(mail.SMTPConfig{URL: "smtps://host.example"}); err != nil {
		t.Errorf("minimal smtps URL: %v", err)
	}
}
