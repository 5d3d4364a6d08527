package proxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

const (
	serverID = "spiffe://example.org/ns/shop/sa/server"
	clientID = "spiffe://example.org/ns/shop/sa/client"
)

// clientTransport is how clients reach the proxy: plain TCP, or mutual TLS that
// the listener's Accept terminates.
type clientTransport struct {
	name   string
	accept func(ctx context.Context, c net.Conn) (net.Conn, proxy.Peer, error)
	// dial connects to the proxy; the connection is closed at cleanup.
	dial func(t *testing.T, addr string) (net.Conn, error)
}

func (tr clientTransport) mustDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := tr.dial(t, addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientTransports(t *testing.T) []clientTransport {
	ca := testpki.New(t, "example.org")
	server := tlsconf.MTLSServer(ca.Issue(serverID, time.Hour), ca.Bundle(), tlsconf.AuthorizeAny(), time.Now)
	client := tlsconf.MTLSClient(ca.Issue(clientID, time.Hour), ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(serverID)), time.Now)
	plain := clientTransport{
		name:   "plain",
		accept: func(_ context.Context, c net.Conn) (net.Conn, proxy.Peer, error) { return c, proxy.Peer{}, nil },
		dial:   dialLoopback,
	}
	mtls := clientTransport{
		name: "mTLS",
		accept: func(ctx context.Context, c net.Conn) (net.Conn, proxy.Peer, error) {
			tc := tls.Server(c, server)
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, proxy.Peer{}, err
			}
			id, err := tlsconf.PeerID(tc.ConnectionState())
			return tc, proxy.Peer{ID: id}, err
		},
		dial: func(t *testing.T, addr string) (net.Conn, error) {
			c, err := dialLoopback(t, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, client)
			return tc, tc.Handshake()
		},
	}
	return []clientTransport{plain, mtls}
}

func dialLoopback(t *testing.T, addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// flowRecorder records flows; FlowEnded never blocks (buffered).
type flowRecorder struct {
	started atomic.Int32
	ended   chan proxy.Flow
}

func newFlowRecorder() *flowRecorder { return &flowRecorder{ended: make(chan proxy.Flow, 16)} }

func (o *flowRecorder) FlowStarted(proxy.Flow) { o.started.Add(1) }
func (o *flowRecorder) FlowEnded(f proxy.Flow) { o.ended <- f }

func (o *flowRecorder) next(t *testing.T) proxy.Flow {
	t.Helper()
	select {
	case f := <-o.ended:
		return f
	case <-time.After(20 * time.Second):
		t.Fatal("no flow reported")
		return proxy.Flow{}
	}
}

// from returns the next flow from source, skipping others (such as probes).
func (o *flowRecorder) from(t *testing.T, source string) proxy.Flow {
	t.Helper()
	for {
		if f := o.next(t); f.Source == source {
			return f
		}
	}
}

// startUpstream serves each connection with handle until the test ends.
func startUpstream(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dialUpstream(addr string) func(ctx context.Context) (net.Conn, string, proxy.Peer, error) {
	return func(ctx context.Context) (net.Conn, string, proxy.Peer, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		return c, addr, proxy.Peer{}, err
	}
}

// runningProxy is a Proxy serving one listener.
type runningProxy struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func runProxy(t *testing.T, opts proxy.Options, steps proxy.Steps) *runningProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := proxy.Listener{Listener: ln, Name: "test", Direction: proxy.Inbound, Open: steps.Open}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningProxy{addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- proxy.New(opts).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := r.wait(t); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r
}

// wait waits for Serve to return and returns its result; it may be called
// more than once.
func (r *runningProxy) wait(t *testing.T) error {
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup's wait
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func halfClose(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

func TestRelayCountsBytes(t *testing.T) {
	for _, tr := range clientTransports(t) {
		t.Run(tr.name, func(t *testing.T) {
			up, down := randomBytes(t, 300_001), randomBytes(t, 123_457)
			received := make(chan []byte, 1)
			addr := startUpstream(t, func(c net.Conn) {
				got, _ := io.ReadAll(c)
				received <- got
				c.Write(down)
			})
			obs := newFlowRecorder()
			p := runProxy(t, proxy.Options{Observer: obs}, proxy.Steps{Accept: tr.accept, Dial: dialUpstream(addr)})

			c := tr.mustDial(t, p.addr)
			if _, err := c.Write(up); err != nil {
				t.Fatal(err)
			}
			halfClose(t, c)
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, down) {
				t.Fatalf("client read %d bytes (%v), want the upstream's %d", len(got), err, len(down))
			}
			if !bytes.Equal(<-received, up) {
				t.Fatal("upstream received other bytes than the client sent")
			}
			f := obs.next(t)
			if f.BytesUp != int64(len(up)) || f.BytesDown != int64(len(down)) {
				t.Fatalf("flow counted %d up, %d down; want %d, %d", f.BytesUp, f.BytesDown, len(up), len(down))
			}
			if f.Decision != proxy.Allow || f.Destination != addr || f.Source != c.LocalAddr().String() || obs.started.Load() != 1 {
				t.Fatalf("flow %+v (started %d)", f, obs.started.Load())
			}
			if tr.name == "mTLS" && f.Peer.ID.String() != clientID {
				t.Fatalf("flow peer %s, want %s", f.Peer.ID, clientID)
			}
		})
	}
}

// A half-close in either direction is passed on, and the other direction
// keeps flowing.
func TestHalfClose(t *testing.T) {
	for _, tr := range clientTransports(t) {
		t.Run(tr.name+"/client closes first", func(t *testing.T) {
			addr := startUpstream(t, func(c net.Conn) {
				if got, err := io.ReadAll(c); err != nil || string(got) != "question" {
					t.Errorf("upstream read %q, %v; want the question then EOF", got, err)
				}
				c.Write([]byte("answer after EOF"))
			})
			p := runProxy(t, proxy.Options{}, proxy.Steps{Accept: tr.accept, Dial: dialUpstream(addr)})
			c := tr.mustDial(t, p.addr)
			c.Write([]byte("question"))
			halfClose(t, c)
			if got, err := io.ReadAll(c); err != nil || string(got) != "answer after EOF" {
				t.Fatalf("client read %q, %v", got, err)
			}
		})
		t.Run(tr.name+"/upstream closes first", func(t *testing.T) {
			late := make(chan string, 1)
			addr := startUpstream(t, func(c net.Conn) {
				c.Write([]byte("greeting"))
				c.(*net.TCPConn).CloseWrite()
				got, _ := io.ReadAll(c)
				late <- string(got)
			})
			p := runProxy(t, proxy.Options{}, proxy.Steps{Accept: tr.accept, Dial: dialUpstream(addr)})
			c := tr.mustDial(t, p.addr)
			if got, err := io.ReadAll(c); err != nil || string(got) != "greeting" {
				t.Fatalf("client read %q, %v; want the greeting then EOF", got, err)
			}
			c.Write([]byte("late words"))
			halfClose(t, c)
			if got := <-late; got != "late words" {
				t.Fatalf("upstream read %q after its half-close", got)
			}
		})
	}
}

// readAfterDial connects and reads; a refusal may already reach the client
// while it connects, so the first error of either is returned.
func readAfterDial(t *testing.T, tr clientTransport, addr string) error {
	c, err := tr.dial(t, addr)
	if err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

// isReset reports whether err is a connection reset: a refusal, not a clean end.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func TestAuthorizeDenied(t *testing.T) {
	for _, tr := range clientTransports(t) {
		t.Run(tr.name, func(t *testing.T) {
			var dials atomic.Int32
			obs := newFlowRecorder()
			p := runProxy(t, proxy.Options{Observer: obs}, proxy.Steps{
				Accept:    tr.accept,
				Authorize: func(p proxy.Peer) error { return errors.New(p.ID.String() + " is not on the allow list") },
				Dial: func(context.Context) (net.Conn, string, proxy.Peer, error) {
					dials.Add(1)
					return nil, "", proxy.Peer{}, errors.New("dialled after a denial")
				},
			})
			if err := readAfterDial(t, tr, p.addr); !isReset(err) {
				t.Fatalf("client after denial: %v, want a connection reset", err)
			}
			f := obs.next(t)
			if f.Decision != proxy.Deny || !strings.HasSuffix(f.Reason, "is not on the allow list") {
				t.Fatalf("flow decision %q reason %q", f.Decision, f.Reason)
			}
			if tr.name == "mTLS" && !strings.HasPrefix(f.Reason, clientID) {
				t.Fatalf("denial reason %q does not name the peer", f.Reason)
			}
			if dials.Load() != 0 || obs.started.Load() != 0 {
				t.Fatal("a denied flow reached the upstream")
			}
		})
	}
}

func TestDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String() // closed: dialing it is refused
	ln.Close()
	obs := newFlowRecorder()
	p := runProxy(t, proxy.Options{Observer: obs}, proxy.Steps{Accept: clientTransports(t)[0].accept, Dial: dialUpstream(refused)})
	if err := readAfterDial(t, clientTransports(t)[0], p.addr); !isReset(err) {
		t.Fatalf("client after a failed dial: %v, want a connection reset", err)
	}
	f := obs.next(t)
	if f.Decision != proxy.Fail || !strings.HasPrefix(f.Reason, "upstream: ") || !strings.Contains(f.Reason, "refused") || f.Destination != refused {
		t.Fatalf("flow %+v", f)
	}
}

// A client that never completes its handshake is cut off at the timeout.
func TestHandshakeTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	obs := newFlowRecorder()
	p := runProxy(t, proxy.Options{Observer: obs, HandshakeTimeout: timeout}, proxy.Steps{Accept: clientTransports(t)[1].accept, Dial: dialUpstream("127.0.0.1:1")})
	c := clientTransports(t)[0].mustDial(t, p.addr) // sends no ClientHello
	start := time.Now()
	// crypto/tls closes the connection itself when the context expires, so
	// the client may see a clean end rather than a reset.
	if n, err := c.Read(make([]byte, 1)); err == nil || !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("client read %d bytes, %v; want the connection closed", n, err)
	}
	if waited := time.Since(start); waited < timeout-50*time.Millisecond {
		t.Fatalf("cut off after %s, before the %s timeout", waited, timeout)
	}
	f := obs.next(t)
	if f.Decision != proxy.Fail || !strings.HasPrefix(f.Reason, "handshake: ") || !strings.Contains(f.Reason, "deadline exceeded") {
		t.Fatalf("flow decision %q reason %q", f.Decision, f.Reason)
	}
}

func startEchoUpstream(t *testing.T) string {
	return startUpstream(t, func(c net.Conn) { io.Copy(c, c) })
}

// After cancel, Serve stops accepting but waits for open flows to finish.
func TestServeDrains(t *testing.T) {
	obs := newFlowRecorder()
	p := runProxy(t, proxy.Options{Observer: obs}, proxy.Steps{Accept: clientTransports(t)[0].accept, Dial: dialUpstream(startEchoUpstream(t))})
	c := clientTransports(t)[0].mustDial(t, p.addr)
	if err := testenv.Echo(c, "before"); err != nil {
		t.Fatal(err)
	}
	p.cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		probe, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			break // the listener is closed
		}
		probe.Close()
		if time.Now().After(deadline) {
			t.Fatal("proxy still accepts after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := testenv.Echo(c, "while draining"); err != nil {
		t.Fatalf("open flow broke at shutdown: %v", err)
	}
	select {
	case <-p.done:
		t.Fatal("Serve returned while a flow was open")
	default:
	}
	c.Close()
	if err := p.wait(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if f := obs.from(t, c.LocalAddr().String()); f.Decision != proxy.Allow || f.BytesUp != int64(len("before")+len("while draining")) {
		t.Fatalf("drained flow %+v", f)
	}
}

// Flows still open at the drain deadline are closed.
func TestDrainTimeout(t *testing.T) {
	const drain = 300 * time.Millisecond
	obs := newFlowRecorder()
	p := runProxy(t, proxy.Options{Observer: obs, DrainTimeout: drain}, proxy.Steps{Accept: clientTransports(t)[0].accept, Dial: dialUpstream(startEchoUpstream(t))})
	c := clientTransports(t)[0].mustDial(t, p.addr)
	if err := testenv.Echo(c, "idle now"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.cancel()
	if err := p.wait(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if took := time.Since(start); took < drain {
		t.Fatalf("Serve returned after %s, before the %s drain timeout", took, drain)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("client read %d bytes from a flow closed at the drain deadline", n)
	}
	obs.next(t)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
