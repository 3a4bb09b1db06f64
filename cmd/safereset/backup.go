package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safereset/safereset/internal/secretfile"
	"github.com/safereset/safereset/jwtauth"
	"github.com/safereset/safereset/ratelimit"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/webhook"
)

// dbFileName is the database inside the data dir and inside a backup.
const dbFileName = "safereset.db"

// backupKeyFiles lists the key files kept beside the database that a
// backup carries and a restore puts back. Without them a restored service
// answers every JWT with ER800, forgets the rate-limit buckets and cannot
// open sealed values. A package that adds a key file to the data dir adds
// its name here; a name whose file does not exist is left out of the
// archive.
func backupKeyFiles() []string {
	return []string{
		jwtauth.KeyFileName,    // HS256 key that signed every issued JWT
		ratelimit.SecretFile,   // HMAC key of the per-address buckets
		"admin.token",          // the admin API token
		"outbox.key",           // seals queued mails at rest
		pageKeyFile,            // binds each reset form to its token
		labelKeyFile,           // keys the labels of email-like JWT subjects
		webhook.SecretFileName, // signs the webhooks; receivers hold it too
	}
}

// maxDBSize bounds the database entry a restore accepts, so a hostile
// archive cannot fill the disk unnoticed.
const maxDBSize = 64 << 30

func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr)
	af := addAdminFlags(fs, getenv)
	force := fs.Bool("force", false, "overwrite OUT if it exists")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("want exactly one argument, OUT (the archive to write)")
	}
	out := fs.Arg(0)
	if _, err := os.Stat(out); err == nil && !*force {
		return fmt.Errorf("%s exists; use --force to overwrite it", out)
	}
	if getenv("SAFERESET_DATABASE_URL") != "" {
		// The server's admin API answers the same; saying it here spares
		// the operator a data dir that PostgreSQL mode does not have.
		return errors.New("the data is in PostgreSQL: back it up with pg_dump")
	}
	// The keys are read first: a data dir that is not the server's, or
	// unreadable by this user, fails before a large download.
	keys, err := readKeyFiles(af.dataDir)
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	dbTmp, err := downloadDB(ctx, c, filepath.Dir(out))
	if err != nil {
		return err
	}
	defer os.Remove(dbTmp)
	// A stream cut short is not a database: open it before keeping it.
	db, err := store.Open(dbTmp, store.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("the received database is not valid (%v); nothing written", err)
	}
	users, err := db.CountUsers(ctx)
	db.Close()
	if err != nil {
		return fmt.Errorf("the received database is not valid (%v); nothing written", err)
	}
	n, err := writeArchive(out, dbTmp, keys)
	if err != nil {
		return err
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes: database with %d users; keys: %s)\n", out, n, users, strings.Join(names, ", "))
	return nil
}

type keyFile struct {
	name string
	data []byte
}

// readKeyFiles reads every key file of backupKeyFiles that exists in dir.
func readKeyFiles(dir string) ([]keyFile, error) {
	if fi, err := os.Stat(filepath.Join(dir, dbFileName)); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("--data-dir %s holds no %s; point it at the server's data dir so its key files go into the backup", dir, dbFileName)
	}
	var keys []keyFile
	for _, name := range backupKeyFiles() {
		b, err := secretfile.Read(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
		keys = append(keys, keyFile{name, b})
	}
	return keys, nil
}

// downloadDB streams the server's hot backup into a temporary file in dir.
func downloadDB(ctx context.Context, c *adminClient, dir string) (string, error) {
	resp, err := c.send(ctx, http.MethodGet, "/admin/v1/backup", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(dir, ".safereset-backup-db-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(tmp, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("download: %w", err)
	}
	return tmp.Name(), nil
}

// writeArchive writes a gzip-compressed tar of the database and the key
// files to out, mode 0600, atomically: out is either the old file or the
// complete archive.
func writeArchive(out, dbPath string, keys []keyFile) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".safereset-backup-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return 0, err
	}
	err = func() error {
		zw := gzip.NewWriter(tmp)
		tw := tar.NewWriter(zw)
		now := time.Now().UTC()
		db, err := os.Open(dbPath)
		if err != nil {
			return err
		}
		defer db.Close()
		fi, err := db.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: dbFileName, Mode: 0o600, Size: fi.Size(), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, db); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tw.WriteHeader(&tar.Header{Name: k.name, Mode: 0o600, Size: int64(len(k.data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := tw.Write(k.data); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		return tmp.Sync()
	}()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	fi, err := os.Stat(tmp.Name())
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", stderr)
	dataDir := fs.String("data-dir", "./safereset-data", "empty (or absent) directory to restore into; serve it with the same --data-dir")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("want exactly one argument, ARCHIVE (written by safereset backup)")
	}
	dir := *dataDir
	created, err := prepareEmptyDir(dir)
	if err != nil {
		return err
	}
	names, users, err := extractArchive(ctx, fs.Arg(0), dir)
	if err != nil {
		// Leave the directory as it was found: empty, or absent.
		for _, n := range names {
			os.Remove(filepath.Join(dir, n))
		}
		if created {
			os.Remove(dir)
		}
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s (database with %d users; keys: %s)\n", fs.Arg(0), dir, users, strings.Join(names[1:], ", "))
	return nil
}

// prepareEmptyDir makes dir (mode 0700) or checks that it is empty: a
// restore never mixes an archive with a live data dir.
func prepareEmptyDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("--data-dir %s is not empty; restore into an empty directory (stop the server and move the old one aside)", dir)
	}
	return false, nil
}

// extractArchive writes the archive's files into dir and checks the
// database opens. It returns the names written, the database first.
func extractArchive(ctx context.Context, archive, dir string) ([]string, int, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s is not a safereset backup archive (%v)", archive, err)
	}
	allowed := map[string]bool{}
	for _, k := range backupKeyFiles() {
		allowed[k] = true
	}
	var names []string
	seen := map[string]bool{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return names, 0, fmt.Errorf("%s is damaged (%v)", archive, err)
		}
		if len(names) == 0 && h.Name != dbFileName {
			return names, 0, fmt.Errorf("%s is not a safereset backup archive (first entry %q, want %s)", archive, oneLine(h.Name), dbFileName)
		}
		if h.Typeflag != tar.TypeReg || seen[h.Name] || (h.Name != dbFileName && !allowed[h.Name]) {
			return names, 0, fmt.Errorf("%s holds an unexpected entry %q; nothing restored", archive, oneLine(h.Name))
		}
		seen[h.Name] = true
		path := filepath.Join(dir, h.Name)
		if h.Name == dbFileName {
			if err := writeFileFrom(path, io.LimitReader(tr, maxDBSize)); err != nil {
				return names, 0, err
			}
			names = append(names, h.Name)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, secretfile.MaxSize+1))
		if err != nil {
			return names, 0, fmt.Errorf("%s is damaged (%v)", archive, err)
		}
		if len(b) > secretfile.MaxSize {
			return names, 0, fmt.Errorf("%s: key file %s is larger than %d bytes", archive, h.Name, secretfile.MaxSize)
		}
		if err := secretfile.Write(path, b); err != nil {
			return names, 0, err
		}
		names = append(names, h.Name)
	}
	if len(names) == 0 {
		return names, 0, fmt.Errorf("%s is empty", archive)
	}
	db, err := store.Open(filepath.Join(dir, dbFileName), store.Options{Timeout: time.Second})
	if err != nil {
		return names, 0, fmt.Errorf("the archive's database does not open (%v); nothing restored", err)
	}
	defer db.Close()
	users, err := db.CountUsers(ctx)
	if err != nil {
		return names, 0, fmt.Errorf("the archive's database is not readable (%v); nothing restored", err)
	}
	return names, users, nil
}

// writeFileFrom writes r to path (mode 0600), synced.
func writeFileFrom(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
