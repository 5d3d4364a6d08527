// Package sidecar runs one workload's share of the mesh: its agent (identity),
// its proxy listeners (mutual TLS in and out), the Workload API and the admin
// endpoints. `hopseal proxy` and the demo both run it.
package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/discovery"
	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/meshwatch"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/policy"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/telemetry"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// Options are the non-file inputs of a sidecar.
type Options struct {
	Log      *slog.Logger
	Observer proxy.Observer // receives flows besides the log and metrics
	Clock    clock.Clock
}

// Sidecar is one workload's proxy.
type Sidecar struct {
	cfg     *config.Proxy
	log     *slog.Logger
	clock   clock.Clock
	agent   *agent.Agent
	proxy   *proxy.Proxy
	ln      map[string]net.Listener
	admin   net.Listener
	serving atomic.Bool
	obs     telemetry.Observers
	http    *telemetry.HTTP
	recent  *telemetry.Recent // /connections, for hopseal trace

	// Transparent mode.
	policyNow      func() *policy.Policy
	modeNow        func() string
	mesh           *meshwatch.Client // nil unless a control plane streams the above
	meshConn       *grpc.ClientConn
	adminRoutes    map[string]http.Handler // the app's rewritten kubelet probes
	discovery      discovery.Source
	discoveryTable func() *discovery.Table
	reloaders      []reloader
	meshServer     *tls.Config
	parker         l7.Parker // nil where sockets cannot be parked
}

// reloader keeps a file-backed value current.
type reloader interface {
	Run(ctx context.Context) error
	Trigger()
}

// New reads the files the configuration names and binds every listener, so
// addresses are known (and ports taken) before Run.
func New(cfg *config.Proxy, opts Options) (_ *Sidecar, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	a, err := NewAgent(cfg.Identity, opts.Clock, opts.Log)
	if err != nil {
		return nil, err
	}
	s := &Sidecar{cfg: cfg, log: opts.Log, clock: opts.Clock, agent: a, ln: map[string]net.Listener{}}
	defer func() {
		if err != nil {
			s.closeListeners()
			a.Close()
		}
	}()
	for _, in := range cfg.Inbound {
		if s.ln[in.Name], err = listen("inbound["+in.Name+"].listen", in.Listen); err != nil {
			return nil, err
		}
	}
	for _, out := range cfg.Outbound {
		if s.ln[out.Name], err = listen("outbound["+out.Name+"].listen", out.Listen); err != nil {
			return nil, err
		}
	}
	if t := cfg.Transparent; t != nil {
		if err := checkUID(t); err != nil {
			return nil, err
		}
		if err := s.setupTransparent(t); err != nil {
			return nil, err
		}
	}
	if cfg.AdminListen != "" {
		if s.admin, err = listen("admin.listen", cfg.AdminListen); err != nil {
			return nil, err
		}
	}
	s.recent = telemetry.NewRecent(telemetry.DefaultRecentSize, telemetry.DefaultRecentOpen)
	s.obs = telemetry.Observers{telemetry.FlowLog{Log: opts.Log}, s.recent}
	if opts.Observer != nil {
		s.obs = append(s.obs, opts.Observer)
	}
	return s, nil
}

// Addr is the bound address of the listener with this name.
func (s *Sidecar) Addr(name string) net.Addr {
	if l, ok := s.ln[name]; ok {
		return l.Addr()
	}
	return nil
}

// AdminAddr is the admin endpoint's address, or nil.
func (s *Sidecar) AdminAddr() net.Addr {
	if s.admin == nil {
		return nil
	}
	return s.admin.Addr()
}

// Agent is the sidecar's identity holder.
func (s *Sidecar) Agent() *agent.Agent { return s.agent }

// Ready reports whether the sidecar holds an SVID and serves traffic.
func (s *Sidecar) Ready() error {
	if _, err := s.agent.GetX509SVID(); err != nil {
		return err
	}
	if !s.serving.Load() {
		return errors.New("listeners not serving yet")
	}
	if s.mesh != nil && s.mesh.View() == nil {
		return errors.New("no policy from the control plane yet")
	}
	return nil
}

// Run obtains an identity, then serves until ctx ends.
func (s *Sidecar) Run(ctx context.Context) error {
	defer s.agent.Close()
	reg := telemetry.NewRegistry()
	metrics := telemetry.NewProxyMetrics(reg)
	s.http = telemetry.NewHTTP(reg, s.log)
	telemetry.RegisterSVIDExpiry(reg, s.notAfter, s.clock.Now)
	s.proxy = proxy.New(proxy.Options{Observer: append(s.obs, metrics)})

	g, ctx := errgroup.WithContext(ctx)
	if s.admin != nil {
		routes := map[string]http.Handler{"GET " + telemetry.ConnectionsPath: s.recent}
		maps.Copy(routes, s.adminRoutes)
		g.Go(func() error {
			return telemetry.ServeAdmin(ctx, s.admin, telemetry.Admin{Registry: reg, Ready: s.Ready, Status: s.status, Routes: routes})
		})
	}
	if err := s.agent.Start(ctx); err != nil {
		s.closeListeners()
		g.Wait()
		return err
	}
	g.Go(func() error { return s.agent.Run(ctx) })
	g.Go(func() error { tuneGC(ctx); return nil })
	if s.cfg.Transparent != nil {
		// Idle HTTP/1 keep-alive connections wait for their upstream here,
		// not each on a goroutine of its own.
		if w, err := proxy.NewWaker(); err == nil {
			s.parker = w
			g.Go(func() error { return w.Run(ctx) })
		}
	}
	for _, r := range s.reloaders {
		g.Go(func() error { return r.Run(ctx) })
	}
	if s.mesh != nil {
		defer s.meshConn.Close()
		g.Go(func() error { return s.mesh.Run(ctx) })
	}
	if s.cfg.WorkloadSocket != "" {
		g.Go(func() error { return s.agent.ServeWorkloadAPI(ctx, s.cfg.WorkloadSocket, 0) })
	}
	g.Go(func() error {
		s.serving.Store(true)
		defer s.serving.Store(false)
		return s.proxy.Serve(ctx, s.listeners()...)
	})
	svid, _ := s.agent.GetX509SVID()
	s.log.Info("proxy ready", "spiffe_id", svid.ID.String(), "not_after", svid.Certificates[0].NotAfter)
	return g.Wait()
}

func (s *Sidecar) notAfter() (time.Time, bool) {
	svid, err := s.agent.GetX509SVID()
	if err != nil {
		return time.Time{}, false
	}
	return svid.Certificates[0].NotAfter, true
}

// Reload renews the SVID and re-reads the policy and discovery files now
// (SIGHUP).
func (s *Sidecar) Reload() {
	s.agent.RenewNow()
	for _, r := range s.reloaders {
		r.Trigger()
	}
}

func (s *Sidecar) listeners() []proxy.Listener {
	var out []proxy.Listener
	if s.cfg.Transparent != nil {
		out = s.transparentListeners()
	}
	server := tlsconf.MTLSServer(s.agent, s.agent, tlsconf.AuthorizeAny(), s.clock.Now)
	for _, in := range s.cfg.Inbound {
		out = append(out, proxy.Listener{Name: in.Name, Direction: proxy.Inbound, Listener: s.ln[in.Name], Open: proxy.Steps{
			Accept: func(ctx context.Context, c net.Conn) (net.Conn, proxy.Peer, error) {
				tc := tls.Server(c, server)
				if err := tc.HandshakeContext(ctx); err != nil {
					return nil, proxy.Peer{}, err
				}
				peer, err := peerOf(tc)
				return tc, peer, err
			},
			Authorize: func(p proxy.Peer) error {
				if slices.Contains(in.Allow, p.ID) {
					return nil
				}
				return fmt.Errorf("%s is not on the allow list of inbound %q", p.ID, in.Name)
			},
			Dial: func(ctx context.Context) (net.Conn, string, proxy.Peer, error) {
				c, err := dialer.DialContext(ctx, "tcp", in.Forward)
				return c, in.Forward, proxy.Peer{}, err
			},
		}.Open})
	}
	for _, o := range s.cfg.Outbound {
		client := tlsconf.MTLSClient(s.agent, s.agent, tlsconf.AuthorizeID(o.ServerID), s.clock.Now)
		out = append(out, proxy.Listener{Name: o.Name, Direction: proxy.Outbound, Listener: s.ln[o.Name], Open: proxy.Steps{
			Accept: func(_ context.Context, c net.Conn) (net.Conn, proxy.Peer, error) { return c, proxy.Peer{}, nil },
			Dial: func(ctx context.Context) (net.Conn, string, proxy.Peer, error) {
				c, err := dialer.DialContext(ctx, "tcp", o.Upstream)
				if err != nil {
					return nil, o.Upstream, proxy.Peer{}, err
				}
				tc := tls.Client(proxy.NewTransport(c), client)
				if err := tc.HandshakeContext(ctx); err != nil {
					c.Close()
					return nil, o.Upstream, proxy.Peer{}, err
				}
				peer, err := peerOf(tc)
				return tc, o.Upstream, peer, err
			},
		}.Open})
	}
	return out
}

var dialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

func peerOf(tc *tls.Conn) (proxy.Peer, error) {
	cs := tc.ConnectionState()
	id, err := tlsconf.PeerID(cs)
	if err != nil {
		return proxy.Peer{}, err
	}
	v, c, g := tlsconf.Describe(cs)
	return proxy.Peer{ID: id, TLS: proxy.TLSInfo{Version: v, CipherSuite: c, Group: g}}, nil
}

func (s *Sidecar) closeListeners() {
	for _, l := range s.ln {
		l.Close()
	}
	if s.admin != nil {
		s.admin.Close()
	}
}

func listen(key, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", key, addr, err)
	}
	return l, nil
}

func readRoots(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca.bundle_file: %w; fetch it with `hopseal ca bundle --state-dir DIR > bundle.pem`", err)
	}
	roots, err := pki.ParseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("ca.bundle_file %s: %w", path, err)
	}
	return roots, nil
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("ca.join_token_file: %w", err)
	}
	if len(data) > 512 {
		return "", fmt.Errorf("ca.join_token_file %s: %d bytes is too long for a join token", path, len(data))
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("ca.join_token_file %s is empty; write the output of `hopseal ca token create` into it", path)
	}
	return token, nil
}
