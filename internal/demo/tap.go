package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxCapture bounds what a tap keeps per connection and direction; the demo's
// connections are a few kilobytes, and a long-running demo must not grow.
const maxCapture = 1 << 20

// Capture is what a tap saw on one connection.
type Capture struct {
	Up, Down  []byte // client → server, server → client
	Truncated bool   // more bytes passed than were kept
}

// Tap is a TCP relay that keeps the bytes passing through it, in both
// directions, for the checks to inspect.
type Tap struct {
	ln        net.Listener
	target    string
	recording atomic.Bool

	mu      sync.Mutex // guards the fields below
	done    []Capture
	open    map[net.Conn]struct{}
	changed chan struct{} // closed and replaced when a connection completes
}

// NewTap listens on a loopback port and relays to target.
func NewTap(target string) (*Tap, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: tap listen: %w", err)
	}
	t := &Tap{ln: ln, target: target, open: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	t.recording.Store(true)
	return t, nil
}

// Addr is where to connect to be relayed to the target.
func (t *Tap) Addr() string { return t.ln.Addr().String() }

// StopRecording keeps relaying but no longer keeps bytes.
func (t *Tap) StopRecording() { t.recording.Store(false) }

// Captures returns the connections completed so far.
func (t *Tap) Captures() []Capture {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Capture(nil), t.done...)
}

// Wait blocks until n connections have completed or ctx ends.
func (t *Tap) Wait(ctx context.Context, n int) error {
	for {
		t.mu.Lock()
		got, ch := len(t.done), t.changed
		t.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tap saw %d of %d connections complete: %w", got, n, ctx.Err())
		case <-ch:
		}
	}
}

// Serve relays connections until ctx ends, then closes the open ones.
func (t *Tap) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { t.ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer func() {
		t.mu.Lock()
		for c := range t.open {
			c.Close()
		}
		t.mu.Unlock()
		wg.Wait()
	}()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("demo: tap: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.relay(ctx, c)
		}()
	}
}

func (t *Tap) relay(ctx context.Context, client net.Conn) {
	t.track(client, true)
	defer t.track(client, false)
	defer client.Close()
	d := net.Dialer{Timeout: 5 * time.Second}
	server, err := d.DialContext(ctx, "tcp", t.target)
	if err != nil {
		return
	}
	t.track(server, true)
	defer t.track(server, false)
	defer server.Close()
	var got Capture
	var upTrunc, downTrunc bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		got.Up, upTrunc = t.pipe(server, client)
	}()
	got.Down, downTrunc = t.pipe(client, server)
	wg.Wait()
	got.Truncated = upTrunc || downTrunc
	t.mu.Lock()
	if t.recording.Load() {
		t.done = append(t.done, got)
	}
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

// pipe copies src to dst, keeping up to maxCapture bytes, and passes a clean
// end on as a half-close so TLS close_notify and EOF reach the other side.
func (t *Tap) pipe(dst, src net.Conn) (kept []byte, truncated bool) {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if t.recording.Load() {
				room := maxCapture - len(kept)
				kept = append(kept, buf[:min(n, room)]...)
				truncated = truncated || n > room
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return kept, truncated
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			} else {
				dst.Close() // a reset or error: tear the other side down too
			}
			return kept, truncated
		}
	}
}

func (t *Tap) track(c net.Conn, add bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if add {
		t.open[c] = struct{}{}
	} else {
		delete(t.open, c)
	}
}
