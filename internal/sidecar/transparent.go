package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/discovery"
	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/netfilter"
	"github.com/hopseal/hopseal/internal/policy"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/reload"
	"github.com/hopseal/hopseal/internal/sniff"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// Names of the transparent listeners, for Addr.
const (
	TransparentInbound   = "transparent-inbound"
	TransparentOutbound  = "transparent-outbound"
	transparentOutbound6 = "transparent-outbound-ipv6"
)

// peekLimit bounds protocol detection: a ClientHello with a post-quantum key
// share is about 1.5 KB.
const peekLimit = 16 << 10

// checkUID refuses to run interception with a UID init-net does not exempt:
// the proxy's own connections would be sent back into it.
func checkUID(t *config.Transparent) error {
	if uid := uint32(os.Geteuid()); uid != t.ProxyUID {
		return fmt.Errorf("transparent mode: the proxy runs as UID %d but init-net exempts UID %d; run it as UID %d (or set transparent.proxy_uid to match init-net --proxy-uid), or its own connections would loop back into it", uid, t.ProxyUID, t.ProxyUID)
	}
	return nil
}

func (s *Sidecar) transparentListeners() []proxy.Listener {
	out := []proxy.Listener{
		{Name: "inbound", Direction: proxy.Inbound, Listener: s.ln[TransparentInbound], Open: s.openInbound},
		{Name: "outbound", Direction: proxy.Outbound, Listener: s.ln[TransparentOutbound], Open: s.openOutbound},
	}
	if l, ok := s.ln[transparentOutbound6]; ok {
		out = append(out, proxy.Listener{Name: "outbound", Direction: proxy.Outbound, Listener: l, Open: s.openOutbound})
	}
	return out
}

// openOutbound takes an app's intercepted connection to its original
// destination: over mesh mTLS when discovery knows who is there, else as
// the egress setting says.
func (s *Sidecar) openOutbound(ctx context.Context, c net.Conn, f *proxy.Flow) (*proxy.Stream, error) {
	t := s.cfg.Transparent
	dst, err := netfilter.OriginalDst(c)
	if err != nil {
		return nil, fmt.Errorf("original destination: %w (are `hopseal init-net` rules installed?)", err)
	}
	f.Destination = dst.String()
	if s.isOwnListener(dst) {
		f.Decision = proxy.Deny
		return nil, fmt.Errorf("%s is this proxy's own listener; connect to the destination instead", dst)
	}
	if !t.Opaque(dst.Port()) {
		r, err := sniff.Peek(c, peekLimit, t.DetectTimeout)
		if err != nil {
			return nil, fmt.Errorf("protocol detection: %w", err)
		}
		f.Protocol, f.SNI = string(r.Protocol), r.SNI
	}
	want, meshed := s.discovery.Lookup(dst)
	if !meshed {
		if t.Egress == config.EgressDeny {
			f.Decision = proxy.Deny
			return nil, fmt.Errorf("%s is not in the mesh and egress is deny", dst)
		}
		f.Security = proxy.Plaintext
		if f.Protocol == string(sniff.TLS) {
			f.Security = proxy.AppTLS
		}
		up, err := dialer.DialContext(ctx, "tcp", dst.String())
		if err != nil {
			return nil, fmt.Errorf("egress: %w", err)
		}
		return &proxy.Stream{Client: c, Upstream: up}, nil
	}
	up, err := dialer.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	conf := tlsconf.MTLSClient(s.agent, s.agent, tlsconf.AuthorizeOneOf(want...), s.clock.Now)
	conf.NextProtos = []string{tlsconf.HintProtocol(f.Protocol), tlsconf.NextProto}
	tc := tls.Client(proxy.NewTransport(up), conf)
	start := time.Now()
	if err := tc.HandshakeContext(ctx); err != nil {
		up.Close()
		return nil, fmt.Errorf("mTLS to %s (%s): %w", dst, want, err)
	}
	f.Handshake = time.Since(start)
	if f.Peer, err = peerOf(tc); err != nil {
		tc.Close()
		return nil, err
	}
	f.Security = proxy.MutualTLS
	return &proxy.Stream{Client: c, Upstream: tc}, nil
}

// openInbound takes a connection intercepted on its way to the app: mesh
// mTLS (or, in permissive mode, plaintext), decided by policy, then on to
// the app at the original destination.
func (s *Sidecar) openInbound(ctx context.Context, c net.Conn, f *proxy.Flow) (*proxy.Stream, error) {
	t := s.cfg.Transparent
	dst, err := netfilter.OriginalDst(c)
	if err != nil {
		return nil, fmt.Errorf("original destination: %w (are `hopseal init-net` rules installed?)", err)
	}
	f.Destination = dst.String()
	first, err := sniff.Peek(c, peekLimit, t.DetectTimeout)
	if err != nil {
		return nil, fmt.Errorf("protocol detection: %w", err)
	}
	client, hint := c, ""
	switch {
	case first.Protocol == sniff.TLS && tlsconf.IsMesh(first.ALPN):
		tc := tls.Server(c, s.meshServer)
		start := time.Now()
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		f.Handshake = time.Since(start)
		if f.Peer, err = peerOf(tc); err != nil {
			return nil, err
		}
		f.Security = proxy.MutualTLS
		client, hint = tc, tlsconf.Hint(tc.ConnectionState().NegotiatedProtocol)
	case s.modeNow() == config.Strict:
		f.Decision, f.Security, f.Protocol, f.SNI = proxy.Deny, proxy.Plaintext, string(first.Protocol), first.SNI
		if first.Protocol == sniff.TLS {
			f.Security = proxy.AppTLS
		}
		return nil, fmt.Errorf("not mesh mTLS (%s): this workload is strict; permissive mode accepts plaintext during migration", first.Protocol)
	default:
		f.Security, hint, f.SNI = proxy.Plaintext, string(first.Protocol), first.SNI
		if first.Protocol == sniff.TLS {
			f.Security = proxy.AppTLS
		}
	}
	d := s.policyNow().Decide(policy.Request{Peer: f.Peer.ID, Port: dst.Port()})
	f.Rule = d.Rule
	if !d.Allow {
		f.Decision = proxy.Deny
		return nil, errors.New(d.Reason)
	}
	proto, prefix := hint, []byte(nil)
	// Detect here when the peer gave no hint, when the app's TLS ClientHello
	// is to be read for its server name, and always when HTTP rules apply:
	// the hint only chooses telemetry, enforcement looks for itself.
	detect := d.NeedHTTP || (!t.Opaque(dst.Port()) && (proto == "" || proto == string(sniff.TLS) && f.SNI == ""))
	if detect {
		r, b, err := sniff.Read(client, peekLimit, t.DetectTimeout)
		if err != nil {
			return nil, fmt.Errorf("protocol detection: %w", err)
		}
		proto, prefix = string(r.Protocol), b
		if r.SNI != "" {
			f.SNI = r.SNI
		}
	}
	if proto == "" {
		proto = string(sniff.Opaque)
	}
	f.Protocol = proto
	if d.NeedHTTP && proto != string(sniff.HTTP1) && proto != string(sniff.HTTP2) {
		f.Decision = proxy.Deny
		return nil, fmt.Errorf("rule %q allows only HTTP requests, and this connection speaks %s", d.Rule, proto)
	}
	up, err := dialer.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return nil, fmt.Errorf("app at %s: %w", dst, err)
	}
	// The Transport's raw socket calls keep the HTTP proxy's reads and
	// writes off the runtime's syscall path, as the relay's are.
	st := &proxy.Stream{Client: client, Upstream: proxy.NewTransport(up), Prefix: prefix}
	switch proto {
	case string(sniff.HTTP1):
		st.Serve = s.serveHTTP(l7.ServeHTTP1, f.Peer.ID, dst.Port(), proxy.Inbound)
	case string(sniff.HTTP2):
		st.Serve = s.serveHTTP(l7.ServeHTTP2, f.Peer.ID, dst.Port(), proxy.Inbound)
	}
	return st, nil
}

type httpServe func(client net.Conn, prefix []byte, upstream net.Conn, opts l7.Options) (int64, int64, error)

// serveHTTP proxies HTTP request by request, each decided by the policy in
// force when it arrives, so a reload applies to open connections too.
func (s *Sidecar) serveHTTP(serve httpServe, peer spiffeid.ID, port uint16, dir proxy.Direction) func(net.Conn, []byte, net.Conn) (int64, int64, error) {
	opts := l7.Options{
		Authorize: func(method, path string) (bool, string, string) {
			d := s.policyNow().Decide(policy.Request{Peer: peer, Port: port, HTTP: &policy.HTTP{Method: method, Path: path}})
			return d.Allow, d.Rule, d.Reason
		},
		Observe: s.http.Flow(dir, peer),
		Parker:  s.parker,
	}
	return func(client net.Conn, prefix []byte, upstream net.Conn) (int64, int64, error) {
		return serve(client, prefix, upstream, opts)
	}
}

// isOwnListener catches a client that dials the outbound port directly:
// its original destination is the proxy itself, and following it would loop.
func (s *Sidecar) isOwnListener(dst netip.AddrPort) bool {
	for _, l := range s.ln {
		a, ok := l.Addr().(*net.TCPAddr)
		if !ok || int(dst.Port()) != a.Port {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP); ok && (ip.IsUnspecified() || ip.Unmap() == dst.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// setupTransparent loads the policy and discovery files and binds the
// interception listeners.
func (s *Sidecar) setupTransparent(t *config.Transparent) error {
	s.policyNow = func() *policy.Policy { return policy.DenyAll() }
	s.modeNow = func() string { return t.Mode }
	if s.cfg.ControlPlane != nil {
		if err := s.setupControlPlane(s.cfg.ControlPlane); err != nil {
			return err
		}
	} else if err := s.setupFiles(t); err != nil {
		return err
	}
	var err error
	if s.ln[TransparentInbound], err = listen("transparent.inbound_listen", t.InboundListen); err != nil {
		return err
	}
	if s.ln[TransparentOutbound], err = listen("transparent.outbound_listen", t.OutboundListen); err != nil {
		return err
	}
	// The kernel redirects IPv6 to [::1]; take it too when it exists.
	if t.OutboundListen == config.DefaultOutboundListen {
		if l, err := net.Listen("tcp", "[::1]:"+strings.TrimPrefix(t.OutboundListen, "127.0.0.1:")); err == nil {
			s.ln[transparentOutbound6] = l
		}
	}
	s.meshServer = tlsconf.MTLSServer(s.agent, s.agent, tlsconf.AuthorizeAny(), s.clock.Now)
	s.meshServer.NextProtos = tlsconf.MeshProtocols()
	return nil
}

// setupFiles loads the policy and discovery files (standalone mode).
func (s *Sidecar) setupFiles(t *config.Transparent) error {
	if t.PolicyFile == "" {
		s.log.Warn("transparent.policy_file is not set: every inbound connection is refused (default deny)")
	} else {
		td := s.cfg.TrustDomain
		pf, err := reload.NewFile(t.PolicyFile, func(b []byte) (*policy.Policy, error) { return policy.Parse(b, td) }, s.log)
		if err != nil {
			return fmt.Errorf("transparent.policy_file: %w", err)
		}
		s.policyNow = pf.Value
		s.reloaders = append(s.reloaders, pf)
	}
	if t.DiscoveryFile == "" {
		s.log.Warn("transparent.discovery_file is not set: no destination is in the mesh", "egress", t.Egress)
		s.discovery = (*discovery.Table)(nil)
	} else {
		df, err := discovery.NewFile(t.DiscoveryFile, s.log)
		if err != nil {
			return fmt.Errorf("transparent.discovery_file: %w", err)
		}
		s.discovery, s.discoveryTable = df, df.Table
		s.reloaders = append(s.reloaders, df)
	}
	return nil
}
