package testenv

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// AppConn is what an app saw of one connection or request.
type AppConn struct {
	Remote string // the peer address the app saw
	Method string // HTTP only
	Target string // HTTP only: the request target as received
	Bytes  int    // body (HTTP) or stream (echo) bytes received
}

// App is a server in a pod (or in the root namespace) that records what it
// sees, so tests can tell whether a connection reached it and from where.
type App struct {
	Addr  string     // the listening address
	mu    sync.Mutex // guards seen and conns
	seen  []AppConn
	conns int
}

// Seen returns what the app has served so far.
func (a *App) Seen() []AppConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AppConn(nil), a.seen...)
}

// Conns is how many connections the app has accepted.
func (a *App) Conns() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conns
}

// RemoteHost is the address part of Remote.
func (c AppConn) RemoteHost() string {
	h, _, err := net.SplitHostPort(c.Remote)
	if err != nil {
		return c.Remote
	}
	return h
}

func (a *App) record(c AppConn) {
	a.mu.Lock()
	a.seen = append(a.seen, c)
	a.mu.Unlock()
}

func (a *App) accepted() {
	a.mu.Lock()
	a.conns++
	a.mu.Unlock()
}

// RunHTTPApp runs a plain HTTP app (HTTP/1.1, and HTTP/2 with prior
// knowledge) on every address of the pod. Each
// answer is 200, header X-App: <pod>, and a body that is one line
// "<pod> <method> <target> from <remote>" followed by the request body, so
// markers sent up also travel back down.
func (p *MeshPod) RunHTTPApp(t testing.TB, port uint16) *App {
	t.Helper()
	l := p.Listen(t, "tcp", fmt.Sprintf(":%d", port))
	return serveHTTP(t, l, p.Name)
}

func serveHTTP(t testing.TB, l net.Listener, name string) *App {
	a := &App{Addr: l.Addr().String()}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Protocols:         &protocols,
		ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				a.accepted()
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			a.record(AppConn{Remote: r.RemoteAddr, Method: r.Method, Target: r.RequestURI, Bytes: len(body)})
			w.Header().Set("X-App", name)
			fmt.Fprintf(w, "%s %s %s from %s\n", name, r.Method, r.RequestURI, r.RemoteAddr)
			w.Write(body)
		}),
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return a
}

// RunEchoApp runs a TCP app on every address of the pod that echoes each
// connection's bytes back until the client half-closes.
func (p *MeshPod) RunEchoApp(t testing.TB, port uint16) *App {
	t.Helper()
	return serveEcho(t, p.Listen(t, "tcp", fmt.Sprintf(":%d", port)))
}

// RunHostEchoApp runs an echo app in the root namespace on the bridge's
// host address: a destination outside the mesh that every pod can reach.
func (m *Mesh) RunHostEchoApp(t testing.TB) *App {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(m.Net.HostIP, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return serveEcho(t, l)
}

func serveEcho(t testing.TB, l net.Listener) *App {
	a := &App{Addr: l.Addr().String()}
	ServeConns(t, l, func(c net.Conn) {
		a.accepted()
		n, _ := io.Copy(c, c)
		a.record(AppConn{Remote: c.RemoteAddr().String(), Bytes: int(n)})
	})
	return a
}
