package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP server limits on the public side.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

var errShuttingDown = errors.New("gateway: shutting down")

// httpFeed serves HTTP on connections a listener has accepted and secured
// (a TLS connection of a terminate route, or a redirect listener's plain
// one). It is the net.Listener of one http.Server: serve hands it a
// connection and returns once the server is done with it, so the proxy's
// flow, with its log line and drain, lasts as long as the connection.
type httpFeed struct {
	srv    *http.Server
	addr   net.Addr
	queue  chan net.Conn
	closed chan struct{}
	once   sync.Once

	mu    sync.Mutex // guards conns, waiting and shut
	conns map[net.Conn]*fed
	// The fast path's connections (h1.go) are not the server's: those
	// waiting for a request are closed at shutdown, as the server closes
	// its idle ones.
	waiting map[net.Conn]struct{}
	shut    bool
}

// fed is a connection the server holds.
type fed struct {
	cs   *conn
	done chan struct{}
}

type connKey struct{}

// connOf is what the gateway learned about a request's connection.
func connOf(r *http.Request) *conn {
	cs, _ := r.Context().Value(connKey{}).(*conn)
	return cs
}

func newHTTPFeed(addr net.Addr, h http.Handler, log *slog.Logger) *httpFeed {
	f := &httpFeed{addr: addr, queue: make(chan net.Conn), closed: make(chan struct{}),
		conns: map[net.Conn]*fed{}, waiting: map[net.Conn]struct{}{}}
	f.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnContext:       f.connContext,
		ConnState:         f.connState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return f
}

// serve hands c to the HTTP server and waits until the server closes it
// (or hijacks it, for a protocol upgrade).
func (f *httpFeed) serve(c net.Conn, cs *conn) error {
	x := &fed{cs: cs, done: make(chan struct{})}
	f.mu.Lock()
	f.conns[c] = x
	f.mu.Unlock()
	select {
	case f.queue <- c:
	case <-f.closed:
		f.release(c)
		c.Close()
		return errShuttingDown
	}
	<-x.done
	return nil
}

func (f *httpFeed) connContext(ctx context.Context, c net.Conn) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	if x := f.conns[c]; x != nil {
		return context.WithValue(ctx, connKey{}, x.cs)
	}
	return ctx
}

func (f *httpFeed) connState(c net.Conn, s http.ConnState) {
	if s == http.StateClosed || s == http.StateHijacked {
		f.release(c)
	}
}

func (f *httpFeed) release(c net.Conn) {
	f.mu.Lock()
	x := f.conns[c]
	delete(f.conns, c)
	f.mu.Unlock()
	if x != nil {
		close(x.done)
	}
}

// run serves until ctx ends, then shuts down gracefully: idle connections
// close at once, requests in flight get up to drain. It returns once the
// server is done.
func (f *httpFeed) run(ctx context.Context, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- f.srv.Serve(f) }()
	select {
	case err := <-errc:
		return err // Serve failed on its own; ctx has not ended
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if f.srv.Shutdown(sctx) != nil {
		f.srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Accept, Close and Addr make the feed the server's listener.
func (f *httpFeed) Accept() (net.Conn, error) {
	select {
	case c := <-f.queue:
		return c, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *httpFeed) Close() error {
	f.once.Do(func() {
		close(f.closed)
		f.mu.Lock()
		f.shut = true
		for c := range f.waiting {
			c.SetReadDeadline(time.Unix(1, 0)) // ends its wait at once
		}
		f.mu.Unlock()
	})
	return nil
}

// idle notes that the fast path's c waits for a request, for at most
// timeout; false means the feed is shutting down and c must close.
func (f *httpFeed) idle(c net.Conn, timeout time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shut {
		return false
	}
	f.waiting[c] = struct{}{}
	c.SetReadDeadline(time.Now().Add(timeout))
	return true
}

// busy notes that c's wait is over.
func (f *httpFeed) busy(c net.Conn) {
	f.mu.Lock()
	delete(f.waiting, c)
	f.mu.Unlock()
}

// shuttingDown says responses should close their connection.
func (f *httpFeed) shuttingDown() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

func (f *httpFeed) Addr() net.Addr { return f.addr }

// clientConn is a client's connection as the HTTP side sees it: its remote
// address is the real client's (from the PROXY header, when there is one),
// so X-Forwarded-For and logs name the client, not the load balancer. It
// counts the bytes that cross it.
type clientConn struct {
	net.Conn
	remote  net.Addr
	in, out atomic.Int64
}

func (c *clientConn) RemoteAddr() net.Addr { return c.remote }

func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *clientConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}
