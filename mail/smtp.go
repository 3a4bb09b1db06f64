package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/safereset/safereset"
)

// DefaultSMTPTimeout bounds one SMTP delivery when SMTPConfig.Timeout is 0.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig configures NewSMTPSender.
type SMTPConfig struct {
	// URL is the relay: smtp://[user:pass@]host[:port][?starttls=...] or
	// smtps://[user:pass@]host[:port]. Without credentials, smtp uses
	// STARTTLS when the server offers it (starttls=opportunistic, the
	// default). With credentials it insists on it (starttls=required, the
	// default then): a relay that offers no STARTTLS is a delivery error,
	// never a silent downgrade that would send the password and the token
	// mail in clear; starttls=opportunistic is refused with credentials.
	// starttls=none (or off) never tries STARTTLS, an explicit opt-out for
	// a relay on a trusted network. smtps speaks TLS from the first byte.
	// Default ports: 587 for smtp, 465 for smtps. User and password are
	// percent-decoded; with a user, AUTH is required.
	URL string
	// From is the sender address ("addr" or "Name <addr>"); default DefaultFrom.
	From string
	// CAFile is an optional PEM bundle of CAs to trust for the relay's
	// certificate instead of the system roots (private relays).
	CAFile string
	// Timeout bounds one delivery (connect to QUIT); default
	// DefaultSMTPTimeout. A context deadline passed to Send that comes
	// sooner wins.
	Timeout time.Duration
	// HelloName is the name sent in EHLO; default "localhost".
	HelloName string
}

type starttlsMode int

const (
	starttlsOpportunistic starttlsMode = iota
	starttlsRequired
	starttlsOff
)

// SMTPSender delivers messages through an SMTP relay, one connection per
// message. It is safe for concurrent use.
type SMTPSender struct {
	host     string
	port     int
	implicit bool
	starttls starttlsMode
	user     string
	pass     string
	hasAuth  bool
	from     *netmail.Address
	tlsCfg   *tls.Config
	timeout  time.Duration
	helo     string
	now      func() time.Time
}

var _ safereset.Sender = (*SMTPSender)(nil)

// NewSMTPSender checks cfg and returns a sender. It does not connect. Its
// errors never contain the password.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.URL == "" {
		return nil, errors.New("mail: smtp url: empty")
	}
	// url.Parse's own error quotes the whole URL, password included: say
	// what is wrong in our own words instead.
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("mail: smtp url: not a valid URL (expected smtp://user:pass@host:port or smtps://...; percent-encode special characters in user and password)")
	}
	s := &SMTPSender{timeout: cfg.Timeout, helo: cfg.HelloName, now: time.Now}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, errors.New("mail: smtp url: scheme must be smtp or smtps")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("mail: smtp url: must be smtp://[user:pass@]host[:port] with no path")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("mail: smtp url: missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("mail: smtp url: port must be 1-65535")
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		s.hasAuth = true
		if s.user == "" {
			return nil, errors.New("mail: smtp url: empty user name")
		}
	}
	q := u.Query()
	for k := range q {
		if k != "starttls" {
			return nil, fmt.Errorf("mail: smtp url: unknown parameter %q (only starttls is known)", k)
		}
	}
	switch v := q.Get("starttls"); v {
	case "":
		if s.hasAuth {
			s.starttls = starttlsRequired
		}
	case "opportunistic":
		if s.hasAuth {
			return nil, errors.New("mail: smtp url: starttls=opportunistic with credentials would send them in clear to a relay that offers no STARTTLS; leave starttls out (required) or opt out with starttls=none")
		}
	case "required":
		s.starttls = starttlsRequired
	case "none", "off":
		s.starttls = starttlsOff
	default:
		return nil, fmt.Errorf("mail: smtp url: starttls must be required, none or opportunistic, not %q", v)
	}
	if s.implicit && q.Has("starttls") {
		return nil, errors.New("mail: smtp url: starttls does not apply to smtps (which is TLS from the start)")
	}
	if s.from, err = parseFrom(cfg.From); err != nil {
		return nil, err
	}
	if s.timeout < 0 {
		return nil, errors.New("mail: smtp timeout must not be negative")
	}
	if s.timeout == 0 {
		s.timeout = DefaultSMTPTimeout
	}
	if s.helo == "" {
		s.helo = "localhost"
	}
	if strings.ContainsAny(s.helo, " \r\n\t") {
		return nil, errors.New("mail: smtp hello name must be one word")
	}
	s.tlsCfg = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pemBytes, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mail: smtp CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("mail: smtp CA file %s: no PEM certificate found", cfg.CAFile)
		}
		s.tlsCfg.RootCAs = pool
	}
	return s, nil
}

// Send delivers m over a new connection. It honours ctx: cancellation or
// a deadline aborts the conversation. Errors are *SendError: SMTP 5xx
// replies to MAIL FROM, RCPT TO or DATA wrap safereset.ErrMailPermanent;
// everything else (4xx, connection, TLS, authentication, timeout) is
// temporary.
func (s *SMTPSender) Send(ctx context.Context, m safereset.Message) error {
	if err := ctx.Err(); err != nil {
		return &SendError{Reason: "canceled before sending", Err: err}
	}
	msg, err := newMsg(m, s.from, gomail.EncodingQP, s.now())
	if err != nil {
		return err
	}
	timeout := s.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 {
		return &SendError{Reason: "smtp timeout", Err: context.DeadlineExceeded}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// go-mail bounds each command by its own timeout but does not watch
	// ctx once connected; closing the connection when ctx ends makes a
	// cancellation or a slow relay abort at once.
	var stopWatch func() bool
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.implicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsCfg}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		stopWatch = context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
	defer func() {
		if stopWatch != nil {
			stopWatch()
		}
	}()

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(timeout),
		gomail.WithHELO(s.helo),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tlsCfg),
	}
	switch {
	case s.implicit, s.starttls == starttlsOff:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case s.starttls == starttlsRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.hasAuth {
		// PLAIN and LOGIN refuse to send the password over an unencrypted
		// connection to anything but loopback.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin, gomail.SMTPAuthCramMD5),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return &SendError{Reason: "smtp client setup", Err: err}
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(ctx, err)
	}
	return nil
}

// classify turns a go-mail error into a SendError whose text holds only
// the SMTP stage and status codes: server reply texts and go-mail's
// messages may quote the recipient.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		reason := "timeout"
		if errors.Is(ctx.Err(), context.Canceled) {
			reason = "canceled"
		}
		return &SendError{Reason: "smtp " + reason, Err: errors.Join(ctx.Err(), err)}
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		stage := sendStage(se.Reason)
		if code := se.ErrorCode(); code >= 400 {
			reason := fmt.Sprintf("smtp %s rejected: %d", stage, code)
			if esc := se.EnhancedStatusCode(); esc != "" {
				reason += " " + esc
			}
			return &SendError{Reason: reason, Permanent: code >= 500, Err: err}
		}
		return &SendError{Reason: "smtp " + stage + " failed: " + netReason(err), Err: err}
	}
	// Errors before the transaction: connect, greeting, EHLO, STARTTLS, AUTH.
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		stage := "session"
		if strings.Contains(err.Error(), "SMTP AUTH failed") {
			stage = "AUTH"
		}
		return &SendError{Reason: fmt.Sprintf("smtp %s refused: %d", stage, tpe.Code), Err: err}
	}
	return &SendError{Reason: "smtp " + netReason(err), Err: err}
}

func sendStage(r gomail.SendErrReason) string {
	switch r {
	case gomail.ErrSMTPMailFrom:
		return "MAIL FROM"
	case gomail.ErrSMTPRcptTo:
		return "RCPT TO"
	case gomail.ErrSMTPData, gomail.ErrWriteContent, gomail.ErrSMTPDataClose:
		return "DATA"
	case gomail.ErrSMTPReset:
		return "RSET"
	case gomail.ErrConnCheck:
		return "connection check"
	default:
		return "send"
	}
}

// netReason names a transport failure without quoting it.
func netReason(err error) string {
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.As(err, &certErr), strings.Contains(msg, "x509:"):
		return "TLS certificate not trusted"
	case errors.As(err, &recErr), strings.Contains(msg, "tls:"):
		return "TLS handshake failed"
	case strings.Contains(msg, "does not support STARTTLS"):
		return "STARTTLS required but not offered by the server"
	case strings.Contains(msg, "does not support SMTP AUTH"), errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		return "no usable AUTH mechanism offered by the server"
	case strings.Contains(msg, "unencrypted connection"):
		return "refusing to send the password without TLS"
	case errors.As(err, &dnsErr):
		return "cannot resolve host"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connection failed"
	default:
		return "connection lost"
	}
}
