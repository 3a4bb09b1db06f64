package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBufferSize is how many bytes of log lines lineBuffer holds before it
// writes them whatever the time: about 250 access lines.
const logBufferSize = 64 << 10

// lineBuffer collects whole log lines (slog hands each record to Write in
// one call) and writes them to w in one call: every `every` after the
// first line not yet written, as soon as logBufferSize bytes are waiting,
// on Flush, and at once for a record of level Warn or above (see
// flushOnWarn). A write(2) costs about 4 µs on a small VM, a tenth of
// what refusing a guess costs otherwise; batching the access lines is
// what nginx's `buffer=`/`flush=` and Envoy's access-log flush interval
// do. What a crash that skips Close can lose is at most `every` of info
// lines.
type lineBuffer struct {
	w     io.Writer
	every time.Duration

	mu      sync.Mutex
	buf     []byte
	timer   *time.Timer
	pending bool // a line is waiting and the timer is set
	closed  bool
}

func newLineBuffer(w io.Writer, every time.Duration) *lineBuffer {
	b := &lineBuffer{w: w, every: every, buf: make([]byte, 0, logBufferSize)}
	b.timer = time.AfterFunc(time.Hour, b.Flush)
	b.timer.Stop()
	return b
}

// Write keeps p (one whole line) for the next write to w. It never fails:
// an error writing to w is the logger's destination failing, which the
// line that reports it could not reach either.
func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.w.Write(p)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	switch {
	case len(b.buf) >= logBufferSize:
		b.flushLocked()
	case !b.pending:
		b.pending = true
		b.timer.Reset(b.every)
	}
	return len(p), nil
}

// Flush writes every line kept so far.
func (b *lineBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

// Close writes what is kept; lines logged after it are written at once.
func (b *lineBuffer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
}

func (b *lineBuffer) flushLocked() {
	if b.pending {
		b.timer.Stop()
		b.pending = false
	}
	if len(b.buf) > 0 {
		b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

// flushOnWarn writes the buffer out after every record of level Warn or
// above, so warnings and errors (a failed delivery, a changed filter, a
// recovered panic) are on disk when they are logged, and so is every
// access line before them.
type flushOnWarn struct {
	slog.Handler
	buf *lineBuffer
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.buf.Flush()
	}
	return err
}

func (h flushOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(as), h.buf}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.buf}
}
