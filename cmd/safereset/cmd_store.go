package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/secretfile"
	"github.com/safereset/safereset/jwtauth"
	"github.com/safereset/safereset/postgres"
	"github.com/safereset/safereset/ratelimit"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/webhook"
)

// copyable is an engine store copy reads from and writes into.
type copyable interface {
	Export(ctx context.Context) (safereset.Dump, error)
	Import(ctx context.Context, d safereset.Dump) error
	Close() error
}

// keyFiles maps the shared keys kept in PostgreSQL to the files that hold
// them beside a bbolt database.
var keyFiles = []struct{ name, file string }{
	{"ratelimit-hmac", ratelimit.SecretFile},
	{"jwt-hs256", jwtauth.KeyFileName},
}

// runStore is `safereset store copy --from A --to B`: an offline copy of
// everything between a bbolt file and a PostgreSQL database.
func runStore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, args, ok, err := groupCommand("store", args, stdout)
	if !ok {
		return err
	}
	return withPrefix("store copy", runStoreCopy(ctx, args, getenv, stdout, stderr))
}

func runStoreCopy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store copy", stderr)
	from := fs.String("from", "", "source: a bbolt file or a postgres:// URL")
	to := fs.String("to", "", "target (must be empty): a bbolt file or a postgres:// URL")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError("unexpected argument %q", oneLine(fs.Arg(0)))
	case *from == "" || *to == "":
		return usageError("both --from and --to are required")
	case postgres.IsURL(*from) == postgres.IsURL(*to):
		return usageError("copy between a bbolt file and PostgreSQL (one of --from and --to must be each)")
	}
	if !postgres.IsURL(*from) {
		if _, err := os.Stat(*from); err != nil {
			return fmt.Errorf("--from %s: %w", *from, errors.Unwrap(err))
		}
	}
	src, err := openCopyable(ctx, *from, false)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := openCopyable(ctx, *to, true)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()

	d, err := src.Export(ctx)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	for _, e := range d.Outbox {
		if e.Unreadable {
			return fmt.Errorf("queued mail %d cannot be opened with the outbox key beside the source; nothing copied", e.ID)
		}
	}
	if err := dst.Import(ctx, d); errors.Is(err, store.ErrNotEmpty) || errors.Is(err, postgres.ErrNotEmpty) {
		return errors.New("the target already holds data; copy only into an empty database")
	} else if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	keys, err := copyKeys(ctx, *from, *to, src, dst)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	wk, err := copyWebhookSecret(ctx, *from, *to, src, dst)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	keys += wk
	got, err := dst.Export(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := sameDump(d, got); err != nil {
		return fmt.Errorf("verify: the copy differs from the source: %w", err)
	}
	fmt.Fprintf(stdout, "copied and verified: %d users, %d tokens, %d lock tokens, %d API keys, %d queued mails, %d audit entries, %d shared keys\n",
		len(got.Users), len(got.Tokens), len(got.LockTokens), len(got.APIKeys), len(got.Outbox), len(got.Audit), keys)
	return nil
}

// openCopyable opens a bbolt file or a PostgreSQL database; a PostgreSQL
// target is migrated first.
func openCopyable(ctx context.Context, where string, target bool) (copyable, error) {
	if !postgres.IsURL(where) {
		// Queued mails are sealed with the key file beside the database.
		key, err := loadOutboxKey(filepath.Dir(where))
		if err != nil {
			return nil, err
		}
		db, err := store.Open(where, store.Options{Timeout: 2 * time.Second, OutboxKey: key})
		if errors.Is(err, store.ErrLocked) {
			return nil, errors.New("the bbolt file is in use; stop safereset first (copy is offline)")
		}
		return db, err
	}
	if target {
		if _, err := postgres.Migrate(ctx, where); err != nil {
			return nil, err
		}
	}
	return postgres.Open(ctx, where, postgres.Options{})
}

// copyKeys carries the shared secrets along: the key files beside a bbolt
// file become rows in PostgreSQL, and back. It returns how many it copied.
func copyKeys(ctx context.Context, from, to string, src, dst copyable) (int, error) {
	n := 0
	if pg, ok := dst.(*postgres.DB); ok {
		for _, k := range keyFiles {
			b, err := secretfile.Read(filepath.Join(filepath.Dir(from), k.file))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return n, err
			}
			if err := pg.SetSharedKey(ctx, k.name, b); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	pg := src.(*postgres.DB)
	for _, k := range keyFiles {
		b, err := pg.SharedKey(ctx, k.name, func() ([]byte, error) { return nil, errNoKey })
		if errors.Is(err, errNoKey) {
			continue
		}
		if err != nil {
			return n, err
		}
		path := filepath.Join(filepath.Dir(to), k.file)
		if old, err := secretfile.Read(path); err == nil && !bytes.Equal(old, b) {
			return n, fmt.Errorf("%s already holds a different key", path)
		}
		if err := secretfile.Write(path, b); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

var errNoKey = errors.New("no such key")

// sameDump compares what was read with what the target now holds.
func sameDump(a, b safereset.Dump) error {
	switch {
	case len(a.Users) != len(b.Users):
		return fmt.Errorf("%d users, read back %d", len(a.Users), len(b.Users))
	case len(a.Tokens) != len(b.Tokens):
		return fmt.Errorf("%d tokens, read back %d", len(a.Tokens), len(b.Tokens))
	case len(a.APIKeys) != len(b.APIKeys):
		return fmt.Errorf("%d API keys, read back %d", len(a.APIKeys), len(b.APIKeys))
	case len(a.Outbox) != len(b.Outbox):
		return fmt.Errorf("%d queued mails, read back %d", len(a.Outbox), len(b.Outbox))
	case len(a.LockTokens) != len(b.LockTokens):
		return fmt.Errorf("%d lock tokens, read back %d", len(a.LockTokens), len(b.LockTokens))
	}
	users := map[uint64]safereset.User{}
	for _, u := range b.Users {
		users[u.ID] = u
	}
	for _, u := range a.Users {
		if g, ok := users[u.ID]; !ok || g.EmailKey != u.EmailKey || g.Email != u.Email || g.PasswordHash != u.PasswordHash {
			return fmt.Errorf("user %d differs", u.ID)
		} else if !g.LockedUntil.Truncate(time.Microsecond).Equal(u.LockedUntil.Truncate(time.Microsecond)) {
			// PostgreSQL keeps times to the microsecond.
			return fmt.Errorf("user %d's lock differs", u.ID)
		}
	}
	toks := map[[32]byte]uint64{}
	for _, t := range b.Tokens {
		toks[t.Hash] = t.UserID
	}
	for _, t := range a.Tokens {
		if toks[t.Hash] != t.UserID {
			return errors.New("a token differs")
		}
	}
	locks := map[[32]byte]uint64{}
	for _, t := range b.LockTokens {
		locks[t.Hash] = t.UserID
	}
	for _, t := range a.LockTokens {
		if locks[t.Hash] != t.UserID {
			return errors.New("a lock token differs")
		}
	}
	keys := map[[32]byte]string{}
	for _, k := range b.APIKeys {
		keys[k.Hash] = k.ID
	}
	for _, k := range a.APIKeys {
		if keys[k.Hash] != k.ID {
			return fmt.Errorf("API key %s differs", k.ID)
		}
	}
	if err := sameAudit(a.Audit, b.Audit); err != nil {
		return err
	}
	if err := sameWebhooks(a.Outbox, b.Outbox); err != nil {
		return err
	}
	mails := map[uint64]safereset.Message{}
	for _, e := range b.Outbox {
		mails[e.ID] = e.Message
	}
	for _, e := range a.Outbox {
		if mails[e.ID] != e.Message {
			return fmt.Errorf("queued mail %d differs", e.ID)
		}
	}
	return nil
}

// sameAudit compares the audit trail read with the one written: the same
// entries under the same IDs, in order. PostgreSQL keeps times to the
// microsecond.
func sameAudit(a, b []safereset.AuditEntry) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d audit entries, read back %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || !x.Time.Truncate(time.Microsecond).Equal(y.Time.Truncate(time.Microsecond)) || x.Action != y.Action || x.Actor != y.Actor || x.RequestID != y.RequestID ||
			x.ClientAddr != y.ClientAddr || x.UserID != y.UserID || x.Target != y.Target {
			return fmt.Errorf("audit entry %d differs", x.ID)
		}
	}
	return nil
}

// webhookSecretKey is the shared key that signs webhooks in PostgreSQL
// (see newEvents); beside a bbolt file it is webhook.SecretFileName, in
// its whsec_ text form rather than raw like the other key files.
const webhookSecretKey = "webhook-secret"

// copyWebhookSecret carries the generated webhook secret along, so
// receivers keep verifying after the move. It returns 1 when it copied
// one. A secret given with --webhook-secret-file lives outside the data
// and is the operator's to carry.
func copyWebhookSecret(ctx context.Context, from, to string, src, dst copyable) (int, error) {
	if pg, ok := dst.(*postgres.DB); ok {
		raw, err := secretfile.Read(filepath.Join(filepath.Dir(from), webhook.SecretFileName))
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		s, err := webhook.ParseSecret(string(raw))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", webhook.SecretFileName, err)
		}
		return 1, pg.SetSharedKey(ctx, webhookSecretKey, s.Key())
	}
	key, err := src.(*postgres.DB).SharedKey(ctx, webhookSecretKey, func() ([]byte, error) { return nil, errNoKey })
	if errors.Is(err, errNoKey) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s, err := webhook.NewSigner(key)
	if err != nil {
		return 0, err
	}
	path := filepath.Join(filepath.Dir(to), webhook.SecretFileName)
	if old, err := secretfile.Read(path); err == nil {
		if o, err := webhook.ParseSecret(string(old)); err != nil || !bytes.Equal(o.Key(), key) {
			return 0, fmt.Errorf("%s already holds a different secret", path)
		}
		return 1, nil
	}
	return 1, secretfile.Write(path, []byte(s.Secret()+"\n"))
}

// sameWebhooks checks that each queued webhook delivery was written as
// one, to the same receiver with the same webhook-id and body.
func sameWebhooks(a, b []safereset.OutboxEntry) error {
	hooks := map[uint64]*safereset.WebhookDelivery{}
	for _, e := range b {
		hooks[e.ID] = e.Webhook
	}
	for _, e := range a {
		g := hooks[e.ID]
		if (e.Webhook == nil) != (g == nil) || e.Webhook != nil && (g.ID != e.Webhook.ID || g.URL != e.Webhook.URL || !bytes.Equal(g.Body, e.Webhook.Body)) {
			return fmt.Errorf("queued webhook %d differs", e.ID)
		}
	}
	return nil
}
