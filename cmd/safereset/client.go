package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/safereset/safereset"
)

// adminClient talks to a running server's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// adminFlags adds --admin-url and --data-dir to fs; call client() after
// parsing.
type adminFlags struct {
	url, dataDir string
	getenv       func(string) string
}

func addAdminFlags(fs interface {
	StringVar(*string, string, string, string)
}, getenv func(string) string) *adminFlags {
	a := &adminFlags{getenv: getenv}
	fs.StringVar(&a.url, "admin-url", "http://127.0.0.1:9090", "ops listener of the running server")
	fs.StringVar(&a.dataDir, "data-dir", "./safereset-data", "data dir whose admin.token to use when SAFERESET_ADMIN_TOKEN is unset")
	return a
}

func (a *adminFlags) client() (*adminClient, error) {
	u, err := url.Parse(a.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--admin-url %q is not an http(s) URL", a.url)
	}
	token := a.getenv("SAFERESET_ADMIN_TOKEN")
	if token == "" {
		path := filepath.Join(a.dataDir, "admin.token")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("no admin token: set SAFERESET_ADMIN_TOKEN or point --data-dir at the server's data dir (%v)", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &adminClient{base: strings.TrimRight(a.url, "/"), token: token, http: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// do sends a request and decodes a JSON answer into out (if not nil). An
// error answer becomes an error carrying the server's message.
func (c *adminClient) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: unreadable answer: %v", method, path, err)
	}
	return nil
}

func (c *adminClient) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server's admin API at %s (is `safereset serve` running?): %v", c.base, unwrapURLError(err))
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// readSecretLine reads the first line of r (without its line ending).
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin (give it as the first line)")
	}
	return line, nil
}

func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, args, ok, err := groupCommand("user", args, stdout)
	if !ok {
		return err
	}
	return withPrefix("user "+sub, runUserSub(ctx, sub, args, getenv, stdin, stdout, stderr))
}

func runUserSub(ctx context.Context, sub string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user "+sub, stderr)
	af := addAdminFlags(fs, getenv)
	var phc, locale string
	if sub == "add" {
		fs.StringVar(&phc, "password-hash", "", "store this argon2id or bcrypt PHC string instead of reading a password")
		fs.StringVar(&locale, "locale", "", "language of the user's mails: en, nl, de, fr or es (default: the server's --default-locale)")
	}
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		c, _ := findCommand("user " + sub)
		return usageError("want exactly one argument, %s", c.args)
	}
	arg := fs.Arg(0)
	c, err := af.client()
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		in := map[string]string{"emailAddress": arg}
		if locale != "" {
			in["locale"] = locale
		}
		if phc != "" {
			in["passwordHash"] = phc
		} else {
			pw, err := readSecretLine(stdin)
			if err != nil {
				return err
			}
			in["password"] = pw
		}
		var out struct {
			ID uint64 `json:"id"`
		}
		if err := c.do(ctx, http.MethodPost, "/admin/v1/users", jsonBody(in), &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %d\n", out.ID)
	case "verify":
		pw, err := readSecretLine(stdin)
		if err != nil {
			return err
		}
		var out struct {
			Match bool `json:"match"`
		}
		if err := c.do(ctx, http.MethodPost, "/admin/v1/users/verify", jsonBody(map[string]string{"emailAddress": arg, "password": pw}), &out); err != nil {
			return err
		}
		if !out.Match {
			fmt.Fprintln(stdout, "no match")
			return exitError{code: 1}
		}
		fmt.Fprintln(stdout, "match")
	case "delete":
		if err := c.do(ctx, http.MethodPost, "/admin/v1/users/delete", jsonBody(map[string]string{"emailAddress": arg}), nil); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "deleted")
	case "unlock":
		if err := c.do(ctx, http.MethodPost, "/admin/v1/users/unlock", jsonBody(map[string]string{"emailAddress": arg}), nil); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "unlocked")
	case "import":
		var r io.Reader = stdin
		if arg != "-" {
			f, err := os.Open(arg)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		total, err := importChunks(ctx, c, r, stderr)
		if err != nil {
			return fmt.Errorf("%w (after importing %d)", err, total.Imported)
		}
		fmt.Fprintf(stdout, "imported %d, skipped %d (already exist), failed %d\n", total.Imported, total.Skipped, total.Failed)
		if total.Failed > 0 {
			return exitError{code: 1, msg: fmt.Sprintf("%d line(s) failed", total.Failed)}
		}
	}
	return nil
}

func runAPIKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args, ok, err := groupCommand("apikey", args, stdout)
	if !ok {
		return err
	}
	return withPrefix("apikey "+sub, runAPIKeySub(ctx, sub, args, getenv, stdout, stderr))
}

func runAPIKeySub(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("apikey "+sub, stderr)
	af := addAdminFlags(fs, getenv)
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	n := map[string]int{"create": 1, "list": 0, "revoke": 1}[sub]
	if fs.NArg() != n {
		if n == 0 {
			return usageError("takes no arguments")
		}
		c, _ := findCommand("apikey " + sub)
		return usageError("want exactly one argument, %s", c.args)
	}
	if sub == "create" && !safereset.ValidClientName(fs.Arg(0)) {
		return usageError("name %s", safereset.ClientNameRule)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		var out struct {
			Key string `json:"key"`
		}
		if err := c.do(ctx, http.MethodPost, "/admin/v1/apikeys", jsonBody(map[string]string{"name": fs.Arg(0)}), &out); err != nil {
			return err
		}
		fmt.Fprintln(stdout, out.Key)
	case "list":
		var out []struct {
			ID, Name             string
			CreatedAt, RevokedAt time.Time
		}
		if err := c.do(ctx, http.MethodGet, "/admin/v1/apikeys", nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tREVOKED")
		for _, k := range out {
			rev := "-"
			if !k.RevokedAt.IsZero() {
				rev = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), rev)
		}
		return tw.Flush()
	case "revoke":
		if err := c.do(ctx, http.MethodDelete, "/admin/v1/apikeys/"+url.PathEscape(fs.Arg(0)), nil, nil); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked")
	}
	return nil
}

func runJWT(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args, ok, err := groupCommand("jwt", args, stdout)
	if !ok {
		return err
	}
	return withPrefix("jwt "+sub, runJWTIssue(ctx, args, getenv, stdout, stderr))
}

func runJWTIssue(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("jwt issue", stderr)
	af := addAdminFlags(fs, getenv)
	subject := fs.String("subject", "", "client name recorded in logs and metrics, the same names apikey create takes (required)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 0:
		return usageError("takes no arguments (the subject is --subject NAME)")
	case *subject == "":
		return usageError("want --subject NAME")
	case !safereset.ValidClientName(*subject):
		return usageError("--subject %s", safereset.ClientNameRule)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, "/admin/v1/jwt", jsonBody(map[string]string{"subject": *subject, "ttl": ttl.String()}), &out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, out.Token)
	return nil
}

// importChunkLines is how many lines one import request carries: each
// password line costs an argon2id hash on the server, so a chunk stays
// within a few seconds and far below the request size limit.
const (
	importChunkLines = 200
	importChunkBytes = 512 << 10 // well under the admin listener's 1 MiB limit
)

type importTotals struct {
	Imported, Skipped, Failed int
	Errors                    []struct {
		Line    int
		Error   string
		Skipped bool
	}
}

// importChunks sends r to the server in chunks of importChunkLines lines,
// prints each failed line (numbered in the whole file) on stderr, and
// returns the totals.
func importChunks(ctx context.Context, c *adminClient, r io.Reader, stderr io.Writer) (importTotals, error) {
	var total importTotals
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var chunk bytes.Buffer
	first, line := 1, 0
	flush := func() error {
		if chunk.Len() == 0 {
			return nil
		}
		var out importTotals
		if err := c.do(ctx, http.MethodPost, "/admin/v1/users/import", bytes.NewReader(chunk.Bytes()), &out); err != nil {
			return err
		}
		for _, e := range out.Errors {
			what := "failed"
			if e.Skipped {
				what = "skipped"
			}
			fmt.Fprintf(stderr, "line %d: %s: %s\n", first+e.Line-1, what, oneLine(e.Error))
		}
		total.Imported += out.Imported
		total.Skipped += out.Skipped
		total.Failed += out.Failed
		chunk.Reset()
		first = line + 1
		return nil
	}
	for sc.Scan() {
		line++
		chunk.Write(sc.Bytes())
		chunk.WriteByte('\n')
		if line-first+1 >= importChunkLines || chunk.Len() >= importChunkBytes {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return total, fmt.Errorf("line %d: %v", line+1, err)
	}
	return total, flush()
}
