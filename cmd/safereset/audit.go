package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/safereset/safereset"
)

// runAudit is `safereset audit [--since T] [--follow] [--json]`: it prints
// the audit trail page by page and, with --follow, keeps printing new
// entries until interrupted.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", stderr)
	af := addAdminFlags(fs, getenv)
	var (
		since    string
		follow   bool
		asJSON   bool
		interval time.Duration
	)
	fs.StringVar(&since, "since", "", "first time to show: RFC 3339 (2026-12-01T00:00:00Z) or a duration back from now (24h)")
	fs.BoolVar(&follow, "follow", false, "keep printing new entries until interrupted")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per entry")
	fs.DurationVar(&interval, "interval", 2*time.Second, "how often --follow asks for new entries")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", oneLine(fs.Arg(0)))
	}
	from, err := parseSince(since, time.Now())
	if err != nil {
		return usageError("--since: %s", err.Error())
	}
	if interval <= 0 {
		return usageError("--interval must be positive")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	if follow {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
	}

	var after uint64
	for {
		q := url.Values{"limit": {"1000"}, "after": {strconv.FormatUint(after, 10)}}
		if !from.IsZero() {
			q.Set("since", from.UTC().Format(time.RFC3339Nano))
		}
		var page struct {
			Entries []safereset.AuditEntry `json:"entries"`
			Next    uint64                 `json:"next"`
		}
		if err := c.do(ctx, http.MethodGet, "/admin/v1/audit?"+q.Encode(), nil, &page); err != nil {
			if follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range page.Entries {
			if err := printAudit(stdout, e, asJSON); err != nil {
				return err
			}
			after = e.ID
		}
		if page.Next != 0 {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// parseSince reads --since: empty (everything), an RFC 3339 time, or a
// duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 24h", oneLine(s))
}

func printAudit(w io.Writer, e safereset.AuditEntry, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d %s actor=%s", e.Time.UTC().Format(time.RFC3339), e.ID, e.Action, e.Actor)
	if e.UserID != 0 {
		fmt.Fprintf(&b, " user=%d", e.UserID)
	}
	if e.Target != "" {
		fmt.Fprintf(&b, " target=%q", e.Target)
	}
	if e.ClientAddr != "" {
		fmt.Fprintf(&b, " addr=%s", e.ClientAddr)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " request=%s", e.RequestID)
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}
