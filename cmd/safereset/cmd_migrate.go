package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/safereset/safereset/postgres"
)

// runMigrate is `safereset migrate`: apply the embedded PostgreSQL
// migrations. Replicas may run it at once (goose takes an advisory lock).
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	url := fs.String("database-url", "", "PostgreSQL database to migrate (postgres://…, postgresql://… or a key=value DSN)")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError("unexpected argument %q", oneLine(fs.Arg(0)))
	case *url == "":
		return usageError("--database-url (or SAFERESET_DATABASE_URL) is required; the bbolt file needs no migrations")
	case !postgres.IsURL(*url):
		return usageError("--database-url must be a postgres:// or postgresql:// URL or a key=value DSN")
	}
	applied, err := postgres.Migrate(ctx, *url)
	if errors.Is(err, postgres.ErrSchema) {
		return err
	}
	if err != nil {
		return errors.New(oneLine(err.Error()))
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "schema %d is current; nothing to apply\n", postgres.SchemaVersion())
		return nil
	}
	fmt.Fprintf(stdout, "applied %d migration(s); schema is now %d\n", len(applied), postgres.SchemaVersion())
	return nil
}
