package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog records each Write the logger's destination receives.
type writeLog struct {
	mu    sync.Mutex
	calls []string
	wrote chan struct{} // one value per Write, when the test waits for them
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.calls = append(w.calls, string(p))
	w.mu.Unlock()
	if w.wrote != nil {
		w.wrote <- struct{}{}
	}
	return len(p), nil
}

func (w *writeLog) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

// lines splits what was written into records, checking each is whole JSON.
func lines(t *testing.T, calls []string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range calls {
		if !strings.HasSuffix(c, "\n") {
			t.Fatalf("a write ends inside a line: %.60q…", c[max(len(c)-60, 0):])
		}
		for _, l := range strings.Split(strings.TrimSuffix(c, "\n"), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a whole line: %q: %v", l, err)
			}
			out = append(out, m)
		}
	}
	return out
}

func TestLogFlush_InfoLinesWaitForOneWrite(t *testing.T) {
	w := &writeLog{}
	logger, closeLog, err := newLogger(w, "json", "info", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		logger.Info("request", "n", i)
	}
	if got := len(w.snapshot()); got != 0 {
		t.Fatalf("%d writes before the interval, want 0", got)
	}
	closeLog()
	calls := w.snapshot()
	ls := lines(t, calls)
	if len(calls) != 1 || len(ls) != 100 {
		t.Fatalf("%d writes with %d lines on close, want 1 with 100", len(calls), len(ls))
	}
	for i, l := range ls {
		if l["n"] != float64(i) {
			t.Fatalf("line %d is %v: out of order", i, l["n"])
		}
	}
	// After close, a line is written at once.
	logger.Info("late")
	if calls := w.snapshot(); len(calls) != 2 || !strings.Contains(calls[1], `"late"`) {
		t.Fatalf("a line after close: writes %q", calls)
	}
}

func TestLogFlush_WarnWritesEverythingAtOnce(t *testing.T) {
	w := &writeLog{}
	logger, closeLog, err := newLogger(w, "text", "info", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	logger.Info("one")
	logger.With("part", "mail").Info("two")
	logger.WithGroup("g").Warn("delivery failed")
	calls := w.snapshot()
	if len(calls) != 1 {
		t.Fatalf("%d writes after a warning, want 1: %q", len(calls), calls)
	}
	for _, want := range []string{"msg=one", "msg=two part=mail", "level=WARN msg=\"delivery failed\""} {
		if !strings.Contains(calls[0], want) {
			t.Fatalf("the write after the warning lacks %q:\n%s", want, calls[0])
		}
	}
	logger.Error("failed")
	if calls := w.snapshot(); len(calls) != 2 || !strings.Contains(calls[1], "level=ERROR") {
		t.Fatalf("an error is not written at once: %q", calls)
	}
}

func TestLogFlush_IntervalWritesWithoutMoreLines(t *testing.T) {
	w := &writeLog{wrote: make(chan struct{}, 4)}
	logger, closeLog, err := newLogger(w, "json", "info", 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	logger.Info("only")
	select {
	case <-w.wrote:
	case <-time.After(30 * time.Second):
		t.Fatal("the kept line was never written")
	}
	if ls := lines(t, w.snapshot()); len(ls) != 1 || ls[0]["msg"] != "only" {
		t.Fatalf("wrote %v", ls)
	}
	// And again for the next line: the interval re-arms.
	logger.Info("next")
	select {
	case <-w.wrote:
	case <-time.After(30 * time.Second):
		t.Fatal("the second line was never written")
	}
}

func TestLogFlush_SizeBoundWritesWholeLines(t *testing.T) {
	w := &writeLog{}
	logger, closeLog, err := newLogger(w, "json", "info", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 300)
	const n = 1000 // about 330 KB
	for i := range n {
		logger.Info("request", "n", i, "pad", pad)
	}
	before := len(w.snapshot())
	closeLog()
	calls := w.snapshot()
	if before < 4 {
		t.Fatalf("%d writes for %d KB kept, want one per %d KB", before, n*330/1000, logBufferSize>>10)
	}
	for _, c := range calls {
		if len(c) > logBufferSize+1024 {
			t.Fatalf("a write of %d bytes, over the %d bound by more than a line", len(c), logBufferSize)
		}
	}
	if ls := lines(t, calls); len(ls) != n {
		t.Fatalf("%d lines, want %d", len(ls), n)
	}
}

// Concurrent loggers (run with -race) lose no line and never interleave
// inside one.
func TestLogFlush_ConcurrentLinesStayWhole(t *testing.T) {
	w := &writeLog{}
	logger, closeLog, err := newLogger(w, "json", "info", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			<-start
			for i := range 1000 {
				if i%97 == 0 {
					logger.Warn("w", "g", g, "i", i)
				} else {
					logger.Info("i", "g", g, "i", i)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	closeLog()
	ls := lines(t, w.snapshot())
	seen := map[string]bool{}
	for _, l := range ls {
		seen[fmt.Sprint(l["g"], "/", l["i"])] = true
	}
	if len(ls) != 8000 || len(seen) != 8000 {
		t.Fatalf("%d lines, %d distinct, want 8000", len(ls), len(seen))
	}
}

func TestLogFlush_ZeroWritesEachLine(t *testing.T) {
	w := &writeLog{}
	logger, closeLog, err := newLogger(w, "json", "info", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	logger.Info("a")
	logger.Info("b")
	if got := len(w.snapshot()); got != 2 {
		t.Fatalf("%d writes, want 2", got)
	}
}

// The real binary with the batched default: the access lines of requests
// answered just before SIGTERM are all in its log after it exits.
func TestBinary_LogBatchedLinesWrittenOnShutdown(t *testing.T) {
	p := startBinary(t, "", "--log-flush", "10s")
	const n = 40
	for range n {
		if r := p.do("PATCH", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": "sr_" + strings.Repeat("A", 43)}, `{}`); r.Status != 401 {
			t.Fatalf("status %d, want 401", r.Status)
		}
	}
	count := func() int { return strings.Count(p.Log.String(), `"route":"reset"`) }
	if c := count(); c >= n {
		t.Fatalf("%d access lines written before the interval or shutdown: the lines are not batched", c)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.Log.String())
	}
	if c := count(); c != n {
		t.Fatalf("%d access lines after shutdown, want %d:\n%s", c, n, p.Log.String())
	}
}

// BenchmarkLogLine is one access line written to a real file, each line
// at once (--log-flush 0) against batched (the default).
//
//	go test ./cmd/safereset -run '^$' -bench LogLine -count 4
func BenchmarkLogLine(b *testing.B) {
	for _, flush := range []time.Duration{0, 100 * time.Millisecond} {
		b.Run("flush="+flush.String(), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			logger, closeLog, err := newLogger(f, "json", "info", flush)
			if err != nil {
				b.Fatal(err)
			}
			defer closeLog()
			codes := []string{"ER352"}
			for b.Loop() {
				logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
					slog.String("request_id", "01JDZ6S1V1M6Q0Y8Q9W3M4K5N6"), slog.String("method", "PATCH"),
					slog.String("route", "reset"), slog.Int("status", 400), slog.Any("codes", codes),
					slog.Float64("duration_ms", 0.041), slog.String("client", "apikey:bench"), slog.String("ip", "127.0.0.1"))
			}
		})
	}
}
