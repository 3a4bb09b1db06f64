package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/server"
)

// startRange serves src on a loopback port and returns its base URL.
func startRange(t *testing.T, src server.RangeSource) string {
	t.Helper()
	srv, err := server.NewRangeServer(server.RangeDeps{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + srv.Addr().String() + "/range/"
}

// buildExact builds an exact store from "HASH:COUNT" lines with the
// real builder and opens it; it is closed when tb ends.
func buildExact(tb testing.TB, lines string) *breach.Exact {
	tb.Helper()
	dir := tb.TempDir()
	src := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(src, []byte(lines), 0o600); err != nil {
		tb.Fatal(err)
	}
	exact := filepath.Join(dir, "f.exact")
	if _, err := breach.Build(context.Background(), breach.BuildOptions{Out: filepath.Join(dir, "f.bloom"), Exact: exact, Inputs: []string{src}}); err != nil {
		tb.Fatal(err)
	}
	e, err := breach.OpenExact(exact)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func get(t *testing.T, c *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// The answer is rendered into the response's pooled body buffer. On one
// keep-alive connection, a one-line answer after a 950-line one must be
// exactly its one line: nothing of the longer answer left behind.
func TestRange_ShortAnswerAfterLongOnSameConnection(t *testing.T) {
	var in strings.Builder
	for i := range 950 {
		fmt.Fprintf(&in, "ABCDE%035X:%d\n", i, i+1)
	}
	fmt.Fprintf(&in, "12345%035X:7\n", 42)
	e := buildExact(t, in.String())
	base := startRange(t, e)
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer c.CloseIdleConnections()

	wantShort := fmt.Sprintf("%035X:7", 42)
	for range 3 {
		status, _, long := get(t, c, base+"ABCDE")
		if lines := strings.Split(long, "\r\n"); status != 200 || len(lines) != 950 || lines[949] != fmt.Sprintf("%035X:950", 949) {
			t.Fatalf("long answer: status %d, %d lines, last %q", status, len(lines), lines[len(lines)-1])
		}
		if status, _, short := get(t, c, base+"12345"); status != 200 || short != wantShort {
			t.Fatalf("short answer after a long one: status %d, %d bytes %.80q, want %q", status, len(short), short, wantShort)
		}
		if status, _, empty := get(t, c, base+"00000"); status != 200 || empty != "" {
			t.Fatalf("empty prefix after a long one: status %d, body %.80q", status, empty)
		}
	}
}

// failingSource writes part of an answer, then fails, as a store that
// breaks mid-render would.
type failingSource struct{}

func (failingSource) AppendRange(dst []byte, _ uint32, _ int) ([]byte, int, error) {
	return append(dst, "0000000000000000000000000000000000A:3\r\n00000000000"...), 1, errors.New("store changed under the reader")
}
func (failingSource) Tag() string { return "t" }

// A failed render answers 500 with the error text alone: no half-written
// lines, no cache headers that would keep the failure.
func TestRange_FailedRenderSendsNoPartialAnswer(t *testing.T) {
	base := startRange(t, failingSource{})
	status, h, body := get(t, http.DefaultClient, base+"ABCDE")
	if status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", status)
	}
	if strings.Contains(body, "00000") || strings.Contains(body, "changed") {
		t.Fatalf("body %q carries the partial answer or the cause", body)
	}
	if h.Get("ETag") != "" || h.Get("Cache-Control") != "" && h.Get("Cache-Control") != "no-store" {
		t.Fatalf("ETag %q, Cache-Control %q on a failed answer", h.Get("ETag"), h.Get("Cache-Control"))
	}
}
