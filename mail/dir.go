package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"os"
	"path/filepath"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/safereset/safereset"
)

// DirSender "sends" a message by writing it as one RFC 5322 .eml file into
// a directory, for deployments without an SMTP server. Message bodies are
// written 8bit, so the token and the link are readable in the file as they
// are. It is safe for concurrent use.
type DirSender struct {
	dir  string
	from *netmail.Address
	now  func() time.Time
}

var _ safereset.Sender = (*DirSender)(nil)

// DirOption configures a DirSender.
type DirOption func(*DirSender) error

// WithFrom sets the From address of written messages ("addr" or
// "Name <addr>"); default DefaultFrom.
func WithFrom(from string) DirOption {
	return func(d *DirSender) error {
		a, err := parseFrom(from)
		if err != nil {
			return err
		}
		d.from = a
		return nil
	}
}

// WithClock sets the clock used for Date headers and file names.
func WithClock(now func() time.Time) DirOption {
	return func(d *DirSender) error {
		if now != nil {
			d.now = now
		}
		return nil
	}
}

// NewDirSender returns a sender writing into dir, creating it with mode
// 0700 if it does not exist (an existing directory keeps its mode; the
// files themselves are always 0600).
func NewDirSender(dir string, opts ...DirOption) (*DirSender, error) {
	if dir == "" {
		return nil, errors.New("mail: outbox dir: empty path")
	}
	from, err := parseFrom("")
	if err != nil {
		return nil, err
	}
	d := &DirSender{dir: dir, from: from, now: time.Now}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: outbox dir: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mail: outbox dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("mail: outbox dir %s is not a directory", dir)
	}
	return d, nil
}

// Dir returns the directory messages are written to.
func (d *DirSender) Dir() string { return d.dir }

// Send writes m as <dir>/<UTC time>-<random>.eml. The file appears
// atomically (written to a temporary name, synced, renamed), so a reader
// never sees half a message and a crash leaves no partial .eml file.
func (d *DirSender) Send(ctx context.Context, m safereset.Message) error {
	if err := ctx.Err(); err != nil {
		return &SendError{Reason: "canceled before writing", Err: err}
	}
	now := d.now()
	msg, err := newMsg(m, d.from, gomail.NoEncoding, now)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return &SendError{Reason: "render message", Err: err}
	}

	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]) + ".eml"

	tmp, err := os.CreateTemp(d.dir, ".tmp-*") // 0600; no .eml suffix, so globbing readers skip it
	if err != nil {
		return &SendError{Reason: "create file in outbox dir", Err: err}
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return &SendError{Reason: "write file in outbox dir", Err: err}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return &SendError{Reason: "sync file in outbox dir", Err: err}
	}
	if err := tmp.Close(); err != nil {
		return &SendError{Reason: "close file in outbox dir", Err: err}
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, name)); err != nil {
		return &SendError{Reason: "rename file in outbox dir", Err: err}
	}
	// Sync the directory so the new name survives a power cut: the outbox
	// entry is deleted as soon as Send returns.
	if dh, err := os.Open(d.dir); err == nil {
		_ = dh.Sync()
		dh.Close()
	}
	return nil
}
