package mail

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/safereset/safereset"
)

// DefaultFrom is the sender address used when none is configured.
const DefaultFrom = "safereset@localhost"

// SendError is the error both senders return. Its text holds only a short
// classified reason (never an address, a token or a server's free text),
// so it is safe to log and to store in the outbox. It wraps
// safereset.ErrMailPermanent when retrying cannot help.
type SendError struct {
	// Reason is a short description such as "smtp RCPT TO rejected: 550 5.1.1"
	// or "connection failed".
	Reason string
	// Permanent reports whether the error wraps safereset.ErrMailPermanent.
	Permanent bool
	// Err is the underlying cause. Its text may contain addresses or server
	// replies, so it is kept out of Error(); use it only with errors.Is/As.
	Err error
}

// Error returns "mail: <reason>", with ": permanent mail failure" appended
// for permanent errors.
func (e *SendError) Error() string {
	if e.Permanent {
		return "mail: " + e.Reason + ": " + safereset.ErrMailPermanent.Error()
	}
	return "mail: " + e.Reason
}

// Unwrap returns safereset.ErrMailPermanent (for permanent errors) and the cause.
func (e *SendError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Permanent {
		errs = append(errs, safereset.ErrMailPermanent)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// parseFrom checks a configured sender address ("addr" or "Name <addr>").
func parseFrom(from string) (*netmail.Address, error) {
	if from == "" {
		from = DefaultFrom
	}
	if strings.IndexFunc(from, unicode.IsControl) >= 0 {
		return nil, errors.New("mail: from address must not contain control characters")
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: from address %q: %w", from, err)
	}
	return a, nil
}

// newMsg turns a rendered message into a go-mail message: From from the
// configuration, a Message-ID in the sender's domain, Date now, and a
// text/plain body with an HTML alternative when the message has one. Only
// the body carries the token; headers are From, To, Subject, Date,
// Message-ID and MIME framing.
func newMsg(m safereset.Message, from *netmail.Address, enc gomail.Encoding, now time.Time) (*gomail.Msg, error) {
	to, err := netmail.ParseAddress(m.To)
	if err != nil || to.Name != "" || strings.IndexFunc(m.To, unicode.IsControl) >= 0 {
		return nil, &SendError{Reason: "invalid recipient address", Permanent: true}
	}
	if m.Text == "" {
		return nil, &SendError{Reason: "message has no text body", Permanent: true}
	}
	msg := gomail.NewMsg(gomail.WithEncoding(enc), gomail.WithCharset(gomail.CharsetUTF8), gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	msg.SetMessageIDWithValue(messageID(from.Address))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID returns a random Message-ID local part @ the sender's domain,
// so the header reveals nothing about the host.
func messageID(from string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	domain := "localhost"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at+1 < len(from) {
		domain = from[at+1:]
	}
	return hex.EncodeToString(b[:]) + "@" + domain
}

// MaskEmail returns a form of an address that is safe for logs: the first
// character of the local part, "***", and the domain, e.g.
// "v***@example.com". Anything without an '@' becomes "***".
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	first := []rune(addr[:at])[0]
	if unicode.IsControl(first) || unicode.IsSpace(first) {
		first = '?'
	}
	domain := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return '?'
		}
		return r
	}, addr[at+1:])
	return string(first) + "***@" + domain
}
