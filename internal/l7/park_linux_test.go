package l7_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/testenv"
)

// countingParker is a proxy.Waker that counts parkings and wake-ups, and
// how many connections are parked now.
type countingParker struct {
	w            *proxy.Waker
	parks, wakes atomic.Int64
	now          atomic.Int64
	stop         context.CancelFunc
}

func startParker(t *testing.T) *countingParker {
	t.Helper()
	w, err := proxy.NewWaker()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("waker: %v", err)
		}
	})
	return &countingParker{w: w, stop: cancel}
}

func (p *countingParker) Park(c net.Conn, fn func()) (func() bool, error) {
	p.now.Add(1) // before Park: its function may run at once
	cancel, err := p.w.Park(c, func() { p.now.Add(-1); p.wakes.Add(1); fn() })
	if err != nil {
		p.now.Add(-1)
		return nil, err
	}
	p.parks.Add(1)
	return func() bool {
		ok := cancel()
		if ok {
			p.now.Add(-1)
		}
		return ok
	}, nil
}

// parked serves HTTP/1 with p, over a Transport upstream as the sidecar does.
func parked(p l7.Parker) serveFunc {
	return func(c net.Conn, prefix []byte, u net.Conn, o l7.Options) (int64, int64, error) {
		o.Parker, o.ParkAfter = p, 10*time.Millisecond
		return l7.ServeHTTP1(c, prefix, proxy.NewTransport(u), o)
	}
}

// waitParked waits until the response side is parked. (How often it
// parked depends on timing: a request that arrives before the response
// side first looks is served without parking.)
func waitParked(t *testing.T, p *countingParker) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "the response side to park", func() bool { return p.now.Load() == 1 })
}

// Requests after idle periods are answered as without parking; each idle
// period parks the response side once.
func TestParkedKeepAlive(t *testing.T) {
	noLeaks(t)
	p := startParker(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.URL.Path) }, false)
	f := startFront(t, up.Addr, parked(p), allowAll)
	c, br := dialRaw(t, f.Addr)
	for _, path := range []string{"/a", "/b", "/c"} {
		waitParked(t, p)
		c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"))
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "hello "+path {
			t.Fatalf("request %s: %d %q", path, resp.StatusCode, body)
		}
	}
	// Two requests sent at once while parked are answered in order.
	waitParked(t, p)
	c.Write([]byte("GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n"))
	for _, path := range []string{"/d", "/e"} {
		if _, body := readResponse(t, br, "GET"); body != "hello "+path {
			t.Fatalf("pipelined %s: %q", path, body)
		}
	}
	c.Close()
	if s := f.waitDone(t); s.err != nil {
		t.Errorf("ServeHTTP1: %v", s.err)
	}
	if reps := f.Log.wait(t, 5); len(reps) != 5 {
		t.Errorf("%d reports, want 5", len(reps))
	}
}

// Every way a parked connection ends releases it: nothing waits for a
// Parker that will never call.
func TestParkedConnectionEnds(t *testing.T) {
	tests := []struct {
		name     string
		upstream func(net.Conn) // answers one request, then this
		client   func(t *testing.T, c net.Conn, br *bufio.Reader)
	}{
		{"upstream closes", func(c net.Conn) { c.Close() }, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			expectEOF(t, br)
		}},
		{"upstream sends stray bytes", func(c net.Conn) { c.Write([]byte("HTTP/1.1 200 OK\r\n")) }, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			expectEOF(t, br)
		}},
		{"client closes", nil, func(t *testing.T, c net.Conn, br *bufio.Reader) { c.Close() }},
		{"client half-closes", nil, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			c.(*net.TCPConn).CloseWrite()
			expectEOF(t, br)
		}},
		{"request denied", nil, func(t *testing.T, c net.Conn, br *bufio.Reader) {
			c.Write([]byte("GET /admin/x HTTP/1.1\r\nHost: x\r\n\r\n"))
			if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
			expectEOF(t, br)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			p := startParker(t)
			parkedNow := make(chan struct{}) // the upstream acts once the test saw it parked
			addr := rawUpstream(t, func(c net.Conn) {
				buf := make([]byte, 4096)
				c.Read(buf)
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
				if tc.upstream != nil {
					select {
					case <-parkedNow:
						tc.upstream(c)
					case <-t.Context().Done(): // the test failed before
					}
				}
				c.Read(buf) // until the proxy closes
			})
			f := startFront(t, addr, parked(p), denyPrefix("/admin"))
			c, br := dialRaw(t, f.Addr)
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			readResponse(t, br, "GET")
			waitParked(t, p)
			close(parkedNow)
			tc.client(t, c, br)
			f.waitDone(t)
		})
	}
}

// When the Parker stops, parked connections go on the ordinary way.
func TestParkerStops(t *testing.T) {
	p := startParker(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, false)
	f := startFront(t, up.Addr, parked(p), allowAll)
	c, br := dialRaw(t, f.Addr)
	waitParked(t, p)
	p.stop()
	testenv.Eventually(t, 5*time.Second, "the parked side to resume", func() bool { return p.wakes.Load() == 1 })
	for range 2 {
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if _, body := readResponse(t, br, "GET"); !strings.Contains(body, "ok") {
			t.Fatalf("body %q", body)
		}
	}
}
