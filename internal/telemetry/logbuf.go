package telemetry

import (
	"io"
	"sync"
	"time"
)

// A proxy logs a line per connection and per HTTP request. Written one by
// one, each line is a write(2) that wakes the log's reader (a container
// runtime, a supervisor): at a steady request rate that cost more CPU than
// parsing the request the line describes. LineBuffer gathers lines and
// writes them in batches, at most a flush delay after the first line of a
// batch, as proxies' access logs do. Records keep the time they were
// logged; only their output waits.
type LineBuffer struct {
	w     io.Writer
	delay time.Duration

	mu    sync.Mutex // guards buf, spare and armed
	buf   []byte
	spare []byte // the last batch written, reused for the next one
	armed bool   // a flush is scheduled

	out sync.Mutex // held while writing to w: batches go out whole and in order
}

// Batches are written at once when they reach flushSize, so a burst waits
// for the reader (as unbuffered lines would) rather than growing the
// buffer; larger spares are not kept.
const (
	flushSize = 32 << 10
	maxSpare  = 64 << 10
)

// LogFlushDelay is how long a log line may wait in a LineBuffer.
const LogFlushDelay = 100 * time.Millisecond

// NewLineBuffer returns a LineBuffer writing to w at most delay after a
// line arrives.
func NewLineBuffer(w io.Writer, delay time.Duration) *LineBuffer {
	return &LineBuffer{w: w, delay: delay}
}

// Write buffers p, which should be whole lines (slog writes one record per
// call). It reports errors of a flush it had to do itself.
func (b *LineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= flushSize
	if !full && !b.armed {
		b.armed = true
		time.AfterFunc(b.delay, func() { b.Flush() })
	}
	b.mu.Unlock()
	if full {
		return len(p), b.Flush()
	}
	return len(p), nil
}

// Flush writes out what is buffered. Call it before the process exits.
func (b *LineBuffer) Flush() error {
	b.out.Lock()
	defer b.out.Unlock()
	b.mu.Lock()
	batch := b.buf
	b.buf, b.spare, b.armed = b.spare[:0], nil, false
	b.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	_, err := b.w.Write(batch)
	if cap(batch) <= maxSpare {
		b.mu.Lock()
		b.spare = batch[:0]
		b.mu.Unlock()
	}
	return err
}
