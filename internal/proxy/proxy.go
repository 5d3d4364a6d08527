// Package proxy moves bytes between a client and an upstream. It accepts,
// secures (through an injected function), authorizes, dials, relays and
// drains; what "secure" means (mutual TLS) is decided by its caller.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Direction of a flow relative to the workload.
type Direction string

const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Decision taken on a flow.
type Decision string

const (
	Allow Decision = "allow"
	Deny  Decision = "deny"
	Fail  Decision = "error"
)

// TLSInfo names what a TLS handshake negotiated.
type TLSInfo struct {
	Version, CipherSuite, Group string
}

// Peer is the verified identity at the encrypted end of a flow.
type Peer struct {
	ID  spiffeid.ID
	TLS TLSInfo
}

// Security says how a flow's bytes travelled between workloads.
type Security string

const (
	MutualTLS Security = "mutual_tls" // hopseal's mesh mTLS
	AppTLS    Security = "tls"        // not meshed, but the app's own TLS (egress)
	Plaintext Security = "none"       // not meshed and readable on the wire
)

// Flow is one proxied connection, reported once when it ends.
type Flow struct {
	Listener    string
	Direction   Direction
	Source      string // the connecting client's address
	Destination string // where the proxy sent it
	Peer        Peer
	Security    Security
	Protocol    string // what the app speaks: tls, http1, http2 or tcp; "" when not detected
	SNI         string // the app's own TLS server name, if any
	Decision    Decision
	Rule        string // the policy rule that decided, if any
	Reason      string
	Handshake   time.Duration // the mesh TLS handshake
	BytesUp     int64         // client → upstream
	BytesDown   int64         // upstream → client
	Start       time.Time
	Duration    time.Duration
}

// Observer receives flows, for logs and metrics. It must not block.
type Observer interface {
	FlowStarted(Flow)
	FlowEnded(Flow)
}

// Listener is one way into the proxy.
type Listener struct {
	Name      string
	Direction Direction
	Listener  net.Listener
	// Open turns an accepted connection into a stream: it secures it,
	// decides, and dials the upstream, recording what it learns in f (peer,
	// destination, protocol, rule). On error f.Decision tells a refusal
	// (Deny) from a failure (Fail, the default) and the client gets a reset.
	// c is a *Transport, so TLS layered on it gets the relay's fast path.
	Open func(ctx context.Context, c net.Conn, f *Flow) (*Stream, error)
}

// Stream is an opened flow, ready to move bytes.
type Stream struct {
	Client, Upstream net.Conn
	// Prefix was read from the client while opening (protocol detection);
	// it goes to the upstream first.
	Prefix []byte
	// Serve moves the bytes (an HTTP proxy, say); nil relays them as they are.
	Serve func(client net.Conn, prefix []byte, upstream net.Conn) (up, down int64, err error)
}

// Steps is the simplest way to open a flow: secure, authorize, dial.
type Steps struct {
	// Accept secures the connection (the TLS server handshake for inbound)
	// and reports the peer it verified, if any.
	Accept func(ctx context.Context, c net.Conn) (net.Conn, Peer, error)
	// Authorize decides on the accepted peer; nil allows everyone.
	Authorize func(Peer) error
	// Dial opens the upstream (the TLS client handshake for outbound),
	// returns its address and the peer it verified, if any. Layer TLS on
	// NewTransport(conn) for the relay's fast path.
	Dial func(ctx context.Context) (net.Conn, string, Peer, error)
}

// Open runs the steps in order.
func (s Steps) Open(ctx context.Context, c net.Conn, f *Flow) (*Stream, error) {
	client, peer, err := s.Accept(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	f.Peer = peer
	if s.Authorize != nil {
		if err := s.Authorize(peer); err != nil {
			f.Decision = Deny
			return nil, err
		}
	}
	upstream, dest, upPeer, err := s.Dial(ctx)
	f.Destination = dest
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if f.Peer.ID.IsZero() {
		f.Peer = upPeer
	}
	if !f.Peer.ID.IsZero() && f.Security == "" {
		f.Security = MutualTLS
	}
	return &Stream{Client: client, Upstream: upstream}, nil
}

// Options tune a Proxy.
type Options struct {
	HandshakeTimeout time.Duration // accept + authorize + dial; default 10s
	DrainTimeout     time.Duration // open flows get this long at shutdown; default 15s
	Observer         Observer
}

// Proxy serves Listeners. Every goroutine it starts ends before Serve returns.
type Proxy struct {
	opts Options
	mu   sync.Mutex // guards open
	open map[net.Conn]struct{}
	wg   sync.WaitGroup
}

// New returns a Proxy.
func New(opts Options) *Proxy {
	if opts.HandshakeTimeout == 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 15 * time.Second
	}
	return &Proxy{opts: opts, open: map[net.Conn]struct{}{}}
}

// Serve accepts on every listener until ctx ends, then stops accepting and
// lets open flows finish for up to the drain timeout.
func (p *Proxy) Serve(ctx context.Context, listeners ...Listener) error {
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errc <- p.accept(ctx, l) }()
	}
	var first error
	for range listeners {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	p.drain()
	return first
}

func (p *Proxy) accept(ctx context.Context, l Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Listener.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay) // back off while out of file descriptors
				continue
			}
			return fmt.Errorf("proxy: listener %s: %w", l.Name, err)
		}
		delay = 0
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(ctx, l, c)
		}()
	}
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.open[c] = struct{}{}
	} else {
		delete(p.open, c)
	}
}

// drain waits for open flows, closing whatever is left at the deadline.
func (p *Proxy) drain() {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(p.opts.DrainTimeout):
	}
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	<-done
}

// handle opens a flow, then moves its bytes on a goroutine of its own:
// the handshake grows the stack of the goroutine that runs it, and a flow
// that then idles for hours should not keep that stack.
func (p *Proxy) handle(ctx context.Context, l Listener, c net.Conn) {
	f := &Flow{Listener: l.Name, Direction: l.Direction, Source: c.RemoteAddr().String(), Start: time.Now()}
	hctx, cancel := context.WithTimeout(ctx, p.opts.HandshakeTimeout)
	st, err := l.Open(hctx, NewTransport(c), f)
	cancel() // the timeout bounds opening only
	if err != nil {
		if f.Decision == "" {
			f.Decision = Fail
		}
		f.Reason = err.Error()
		reset(c)
		p.end(c, f)
		return
	}
	f.Decision = Allow
	if p.opts.Observer != nil {
		p.opts.Observer.FlowStarted(*f)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.serve(st, f)
		p.end(c, f)
	}()
}

func (p *Proxy) serve(st *Stream, f *Flow) {
	serve := st.Serve
	if serve == nil {
		serve = relayWithPrefix
	}
	var err error
	f.BytesUp, f.BytesDown, err = serve(st.Client, st.Prefix, st.Upstream)
	if err != nil {
		f.Reason = err.Error()
	}
}

// end reports f and forgets its connection.
func (p *Proxy) end(c net.Conn, f *Flow) {
	f.Duration = time.Since(f.Start)
	if p.opts.Observer != nil {
		p.opts.Observer.FlowEnded(*f)
	}
	p.track(c, false)
}

// relayWithPrefix sends what was read while opening, then relays.
func relayWithPrefix(client net.Conn, prefix []byte, upstream net.Conn) (int64, int64, error) {
	if len(prefix) > 0 {
		if _, err := upstream.Write(prefix); err != nil {
			client.Close()
			upstream.Close()
			return 0, 0, err
		}
	}
	up, down, err := Relay(client, upstream)
	return up + int64(len(prefix)), down, err
}

// reset closes c with an RST, so the peer sees a refusal or a failure, not
// a clean end. It finds the socket under TLS and a Transport.
func reset(c net.Conn) {
	for inner := c; inner != nil; {
		switch v := inner.(type) {
		case *tls.Conn:
			inner = v.NetConn()
		case *Transport:
			inner = v.Conn
		case *net.TCPConn:
			v.SetLinger(0)
			inner = nil
		default:
			inner = nil
		}
	}
	c.Close()
}
