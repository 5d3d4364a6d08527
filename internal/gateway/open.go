package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway/certs"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/sniff"
	"github.com/hopseal/hopseal/internal/telemetry"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// Connection results: the result label of hopseal_gateway_connections_total
// and the result field of connection log lines.
const (
	ResultOK             = "ok"
	ResultUnknownSNI     = "unknown_sni"
	ResultNoSNI          = "no_sni"
	ResultBadClientHello = "bad_client_hello"
	ResultProxyProtocol  = "proxy_protocol_error"
	ResultClientCert     = "client_cert_rejected"
	ResultHandshake      = "handshake_error" // any other failed public TLS handshake
	ResultBackend        = "backend_error"
)

// ModeRedirect is the mode of a redirect listener's connections.
const ModeRedirect = "redirect"

// conn is what the gateway learns about one client connection.
type conn struct {
	listener *listener
	route    *route   // nil until the SNI chose one
	peer     net.Addr // the TCP peer: the load balancer, with PROXY protocol
	client   net.Addr // the real client
	sni      string
	protocol string // http1, http2 or tls (passthrough)
	tlsVer   string // the public TLS of terminate and reencrypt
	cipher   string
	dest     string
	peerID   string
	result   string
	start    time.Time
	// For /connections: the record's ID, a client certificate's subject
	// (client_ca_file), the backend connection of passthrough.
	recID      uint64
	clientCert string
	binding    string // of the public TLS session (TLSBinding)
	upstream   *telemetry.Upstream
}

func (cs *conn) routeName() string {
	if cs.route == nil {
		return ""
	}
	return cs.route.cfg.Hostname
}

func (cs *conn) mode() string {
	switch {
	case cs.listener.cfg.RedirectPort != 0:
		return ModeRedirect
	case cs.route == nil:
		return ""
	}
	return cs.route.cfg.Mode
}

// refusal is an error that ends a connection with a result.
type refusal struct {
	result string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(result string, err error) error { return &refusal{result: result, err: err} }

// opener is a listener's proxy.Listener.Open: it decides, counts and logs
// every connection once (the gateway's own line, with route and result, in
// place of the proxy's flow observers).
func (g *Gateway) opener(l *listener) func(context.Context, net.Conn, *proxy.Flow) (*proxy.Stream, error) {
	return func(ctx context.Context, c net.Conn, _ *proxy.Flow) (*proxy.Stream, error) {
		cs := &conn{listener: l, peer: c.RemoteAddr(), client: c.RemoteAddr(), start: time.Now()}
		st, err := g.open(ctx, c, cs)
		if err != nil {
			cs.result = ResultHandshake
			var r *refusal
			if errors.As(err, &r) {
				cs.result = r.result
			}
			g.events.Connection(l.cfg.Name, cs.routeName(), cs.mode(), cs.result)
			g.logConn(cs, 0, 0, err)
			return nil, err
		}
		cs.result = ResultOK
		g.events.Connection(l.cfg.Name, cs.routeName(), cs.mode(), cs.result)
		g.beginConn(cs)
		serve := st.Serve
		if serve == nil {
			serve = func(client net.Conn, _ []byte, upstream net.Conn) (int64, int64, error) {
				return proxy.Relay(client, upstream)
			}
		}
		st.Serve = func(client net.Conn, prefix []byte, upstream net.Conn) (int64, int64, error) {
			up, down, err := serve(client, prefix, upstream)
			g.logConn(cs, up, down, err)
			return up, down, err
		}
		return st, nil
	}
}

// open reads the PROXY header if the listener expects one, then routes by
// the ClientHello's server name, peeked at without consuming it.
func (g *Gateway) open(ctx context.Context, c net.Conn, cs *conn) (*proxy.Stream, error) {
	deadline, _ := ctx.Deadline()
	if cs.listener.cfg.ProxyProtocol {
		src, err := readProxyHeader(c, deadline)
		if err != nil {
			return nil, refuse(ResultProxyProtocol, err)
		}
		if src != nil {
			cs.client = src
		}
	}
	if cs.listener.cfg.RedirectPort != 0 {
		cs.protocol = "http1"
		cc := &clientConn{Conn: c, remote: cs.client}
		return feedStream(cs, cc, cc), nil
	}
	hello, err := sniff.Peek(c, sniff.DefaultMax, max(time.Until(deadline), time.Millisecond))
	if err != nil {
		return nil, refuse(ResultBadClientHello, err)
	}
	cs.sni = strings.ToLower(hello.SNI)
	rt := cs.listener.routes.lookup(cs.sni)
	if hello.Protocol != sniff.TLS || rt == nil {
		return nil, reject(ctx, c, cs, hello)
	}
	cs.route = rt
	if rt.cfg.Mode == config.Passthrough {
		return g.passthrough(ctx, c, cs)
	}
	return g.terminate(ctx, c, cs)
}

// reject answers a ClientHello that no route takes. Go's TLS server reads
// it: having no certificate to offer, it sends the unrecognized_name
// alert; for a malformed hello it sends its own alert, and to bytes that
// are not TLS at all nothing. The client never gets plaintext.
func reject(ctx context.Context, c net.Conn, cs *conn, hello sniff.Result) error {
	parsed, name := false, ""
	cfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		parsed, name = true, h.ServerName
		return nil, nil
	}}
	herr := tls.Server(c, cfg).HandshakeContext(ctx)
	switch {
	case parsed && name == "":
		return refuse(ResultNoSNI, errors.New("the ClientHello has no server name (SNI), which routes are chosen by"))
	case parsed || hello.Protocol == sniff.TLS && hello.SNI != "":
		return refuse(ResultUnknownSNI, fmt.Errorf("no route on this listener for server name %q", cs.sni))
	}
	return refuse(ResultBadClientHello, fmt.Errorf("not a TLS ClientHello: %v", herr))
}

// terminate completes the public TLS handshake with the route's
// certificate, then serves HTTP on the connection: HTTP/1.1 on the fast
// path while it can (h1.go), HTTP/2 through net/http.
func (g *Gateway) terminate(ctx context.Context, c net.Conn, cs *conn) (*proxy.Stream, error) {
	cc := &clientConn{Conn: c, remote: cs.client}
	tc := tls.Server(cc, cs.route.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		lingerClose(ctx, c)
		var ce *clientCertError
		if errors.As(err, &ce) {
			return nil, refuse(ResultClientCert, err)
		}
		return nil, refuse(ResultHandshake, fmt.Errorf("TLS handshake: %w", err))
	}
	state := tc.ConnectionState()
	cs.tlsVer, cs.cipher, _ = tlsconf.Describe(state)
	cs.binding = TLSBinding(state)
	if len(state.PeerCertificates) > 0 {
		cs.clientCert = state.PeerCertificates[0].Subject.String()
	}
	switch state.NegotiatedProtocol {
	case certs.ACMETLS1:
		// A TLS-ALPN-01 challenge: the handshake was the answer.
		cs.protocol = certs.ACMETLS1
		return &proxy.Stream{Client: tc, Serve: func(net.Conn, []byte, net.Conn) (int64, int64, error) {
			return 0, 0, tc.Close()
		}}, nil
	case "h2":
		cs.protocol = "http2"
		return feedStream(cs, tc, cc), nil
	}
	cs.protocol = "http1"
	return &proxy.Stream{Client: tc, Serve: func(net.Conn, []byte, net.Conn) (int64, int64, error) {
		err := g.serveH1(tc, cs)
		tc.Close() // net/http closes what it was handed; closing again does no harm
		return cc.in.Load(), cc.out.Load(), err
	}}, nil
}

// lingerClose lets a refused client read the TLS alert sent to it: a TLS
// 1.3 client sends its request before it learns that its certificate was
// refused, and closing with that request unread would reset the connection,
// alert and all. So the gateway half-closes, then reads and discards until
// the client closes, for at most a second.
func lingerClose(ctx context.Context, c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	deadline := time.Now().Add(time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetReadDeadline(deadline)
	io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// feedStream serves c's HTTP on its listener's server for as long as the
// connection lasts; the flow reports the bytes that crossed counted.
func feedStream(cs *conn, c net.Conn, counted *clientConn) *proxy.Stream {
	return &proxy.Stream{Client: c, Serve: func(net.Conn, []byte, net.Conn) (int64, int64, error) {
		err := cs.listener.http.serve(c, cs)
		return counted.in.Load(), counted.out.Load(), err
	}}
}

// passthrough relays the client's TLS stream, ClientHello included, inside
// mesh mTLS to the route's backend.
func (g *Gateway) passthrough(ctx context.Context, c net.Conn, cs *conn) (*proxy.Stream, error) {
	b := cs.route.backends[0]
	cs.protocol, cs.dest = "tls", b.cfg.Address
	if b.cfg.Address == "" {
		return nil, refuse(ResultBackend, errors.New("the route's backend did not resolve; see the route's status"))
	}
	up, err := dialTLS(ctx, b.cfg.Address, b.mesh)
	if err != nil {
		return nil, refuse(ResultBackend, fmt.Errorf("backend %s: %w", b.cfg.Address, err))
	}
	cs.peerID = b.cfg.ServerID.String()
	cs.upstream = upstreamOf(up)
	return &proxy.Stream{Client: c, Upstream: up}, nil
}

// logConn writes the connection's one log line.
func (g *Gateway) logConn(cs *conn, up, down int64, err error) {
	level := slog.LevelInfo
	if cs.result != ResultOK {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("listener", cs.listener.cfg.Name),
		slog.String("route", cs.routeName()),
		slog.String("mode", cs.mode()),
		slog.String("sni", cs.sni),
		slog.String("client", addrString(cs.client)),
		slog.String("source", addrString(cs.peer)),
		slog.String("protocol", cs.protocol),
		slog.String("result", cs.result),
		slog.String("destination", cs.dest),
		slog.String("peer_id", cs.peerID),
		slog.String("tls_version", cs.tlsVer),
		slog.String("cipher_suite", cs.cipher),
		slog.Int64("bytes_up", up),
		slog.Int64("bytes_down", down),
		slog.Float64("duration_ms", float64(time.Since(cs.start).Microseconds())/1000),
	}
	if cs.clientCert != "" {
		attrs = append(attrs, slog.String("client_cert", cs.clientCert))
	}
	if err != nil {
		attrs = append(attrs, slog.String("reason", err.Error()))
	}
	telemetry.LogLine(g.log, level, "connection", attrs)
	g.endConn(cs, up, down, err)
}
