// Package gateway is hopseal's edge: listeners that take public TLS, choose
// a route by the ClientHello's server name, and either terminate it and
// proxy HTTP into the mesh over mutual TLS (terminate), carry the client's
// TLS as it is inside mesh mTLS (passthrough), or terminate it and open new,
// verified TLS to a backend outside the mesh (reencrypt). The gateway holds
// its own SPIFFE identity, so destinations authorize it like any peer.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"golang.org/x/sync/errgroup"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway/certs"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/sidecar"
	"github.com/hopseal/hopseal/internal/telemetry"
)

// Events receives what the gateway does, for metrics; telemetry's
// GatewayMetrics implements it. Methods must not block.
type Events interface {
	// Connection is one client connection's outcome (a Result* constant).
	Connection(listener, route, mode, result string)
	// Request is one HTTP exchange on a terminate or reencrypt route.
	Request(route string, code int, d time.Duration)
}

// Identity is where the gateway's SVID and trust bundle come from.
type Identity interface {
	x509svid.Source
	x509bundle.Source
}

// Options are the non-file inputs of a gateway.
type Options struct {
	Log   *slog.Logger
	Clock clock.Clock
	// Identity replaces the agent the file's ca block configures (tests,
	// or an SVID from elsewhere).
	Identity Identity
	// Events replaces the Prometheus metrics served on the admin endpoint.
	Events           Events
	HandshakeTimeout time.Duration // PROXY header + ClientHello + TLS + backend dial; default 10s
	DrainTimeout     time.Duration // at shutdown; default 15s
	// ControlPlane, if set, makes the controller the source of the
	// listeners (Kubernetes Gateway API); the configuration has none.
	ControlPlane *ControlPlane
}

// Gateway serves a gateway configuration.
type Gateway struct {
	log       *slog.Logger
	debugLog  *log.Logger
	clock     clock.Clock
	agent     *agent.Agent // nil when Options.Identity is set
	id        Identity
	events    Events
	admincfg  telemetry.Admin
	listeners []*listener
	dyn       *dynamic      // listeners the controller configures; nil without ControlPlane
	cp        *controlPlane // the controller's stream; nil without ControlPlane
	admin     net.Listener
	certs     map[[2]string]certs.Source
	recent    *telemetry.Recent // /connections, for hopseal trace
	acme      map[acmeKey]*certs.ACMESource
	// acmeHTTPPort is the port of the listener answering HTTP-01: the
	// first redirect listener's, or 0.
	acmeHTTPPort int
	serving      atomic.Bool
	handshake    time.Duration
	drain        time.Duration
}

// New reads every file the configuration names and binds every listener,
// so addresses are known (and ports taken) before Run.
func New(cfg *config.Gateway, opts Options) (_ *Gateway, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	g := &Gateway{
		log: opts.Log, debugLog: slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug), clock: opts.Clock,
		id: opts.Identity, events: opts.Events, certs: map[[2]string]certs.Source{}, acme: map[acmeKey]*certs.ACMESource{},
		recent:    telemetry.NewRecent(telemetry.DefaultRecentSize, telemetry.DefaultRecentOpen),
		handshake: or(opts.HandshakeTimeout, 10*time.Second), drain: or(opts.DrainTimeout, 15*time.Second),
	}
	if g.id == nil {
		if g.agent, err = sidecar.NewAgent(cfg.Identity, opts.Clock, opts.Log); err != nil {
			return nil, err
		}
		g.id = g.agent
	}
	if opts.ControlPlane != nil {
		if err := g.setupControlPlane(cfg, *opts.ControlPlane); err != nil {
			return nil, err
		}
	}
	reg := telemetry.NewRegistry()
	if g.events == nil {
		g.events = telemetry.NewGatewayMetrics(reg)
	}
	telemetry.RegisterSVIDExpiry(reg, g.notAfter, g.clock.Now)
	telemetry.RegisterGatewayCertExpiry(reg, g.certExpiry, g.clock.Now)
	g.admincfg = telemetry.Admin{Registry: reg, Ready: g.Ready, Status: g.status,
		Routes: map[string]http.Handler{"GET " + telemetry.ConnectionsPath: g.recent}}
	defer func() {
		if err != nil {
			g.closeListeners()
		}
	}()
	// Every listener is bound before any is built: ACME routes answer
	// HTTP-01 challenges on a redirect listener, whose port they need.
	lns := make([]net.Listener, len(cfg.Listeners))
	defer func() {
		for _, ln := range lns[len(g.listeners):] {
			if err != nil && ln != nil {
				ln.Close()
			}
		}
	}()
	for i, lc := range cfg.Listeners {
		if lns[i], err = net.Listen("tcp", lc.Listen); err != nil {
			return nil, fmt.Errorf("listeners[%d].listen %q: %w", i, lc.Listen, err)
		}
	}
	g.acmeHTTPPort = redirectPort(cfg, lns)
	for i, lc := range cfg.Listeners {
		l, err := g.buildListener(lc, fmt.Sprintf("listeners[%d]", i), lns[i])
		if err != nil {
			return nil, err
		}
		g.listeners = append(g.listeners, l)
	}
	if cfg.AdminListen != "" {
		if g.admin, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			return nil, fmt.Errorf("admin.listen %q: %w", cfg.AdminListen, err)
		}
	}
	return g, nil
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Addr is the bound address of the listener with this name, or nil.
func (g *Gateway) Addr(name string) net.Addr {
	for _, l := range g.allListeners() {
		if l.cfg.Name == name {
			return l.ln.Addr()
		}
	}
	return nil
}

// AdminAddr is the admin endpoint's address, or nil.
func (g *Gateway) AdminAddr() net.Addr {
	if g.admin == nil {
		return nil
	}
	return g.admin.Addr()
}

// Ready reports whether the gateway holds an SVID and serves.
func (g *Gateway) Ready() error {
	if _, err := g.id.GetX509SVID(); err != nil {
		return err
	}
	if !g.serving.Load() {
		return errors.New("listeners not serving")
	}
	if g.cp != nil {
		return g.cp.ready()
	}
	return nil
}

// Reload renews the SVID and re-reads the certificate files now (SIGHUP).
func (g *Gateway) Reload() {
	if g.agent != nil {
		g.agent.RenewNow()
	}
	for _, s := range g.certs {
		if t, ok := s.(interface{ Trigger() }); ok {
			t.Trigger()
		}
	}
}

// Run obtains an identity, then serves until ctx ends: it stops accepting,
// reports not ready, lets open connections and requests finish for up to
// the drain timeout, and returns.
func (g *Gateway) Run(ctx context.Context) error {
	eg, ctx := errgroup.WithContext(ctx)
	if g.admin != nil {
		eg.Go(func() error {
			return telemetry.ServeAdmin(ctx, g.admin, g.admincfg)
		})
	}
	if g.agent != nil {
		defer g.agent.Close()
		if err := g.agent.Start(ctx); err != nil {
			g.closeListeners()
			eg.Wait()
			return err
		}
		eg.Go(func() error { return g.agent.Run(ctx) })
	}
	for _, s := range g.certs {
		eg.Go(func() error { return s.Run(ctx) })
	}
	for _, s := range g.acme {
		eg.Go(func() error { return s.Run(ctx) })
	}
	if g.cp != nil {
		defer g.cp.conn.Close()
		eg.Go(func() error { return g.dyn.run(ctx) })
		eg.Go(func() error { return g.cp.run(ctx) })
	}
	var pls []proxy.Listener
	for _, l := range g.listeners {
		eg.Go(func() error { return l.http.run(ctx, g.drain) })
		pls = append(pls, proxy.Listener{Name: l.cfg.Name, Direction: proxy.Inbound, Listener: l.ln, Open: g.opener(l)})
	}
	p := proxy.New(proxy.Options{HandshakeTimeout: g.handshake, DrainTimeout: g.drain})
	g.serving.Store(true)
	eg.Go(func() error {
		stop := context.AfterFunc(ctx, func() { g.serving.Store(false) })
		defer stop()
		return p.Serve(ctx, pls...)
	})
	if svid, err := g.id.GetX509SVID(); err == nil {
		g.log.Info("gateway ready", "spiffe_id", svid.ID.String(), "not_after", svid.Certificates[0].NotAfter)
	}
	err := eg.Wait()
	g.closeBackends()
	return err
}

// closeBackends closes the idle pooled connections to backends once no
// request can use them.
func (g *Gateway) closeBackends() { closeIdle(g.allListeners()) }

func (g *Gateway) notAfter() (time.Time, bool) {
	svid, err := g.id.GetX509SVID()
	if err != nil {
		return time.Time{}, false
	}
	return svid.Certificates[0].NotAfter, true
}

func (g *Gateway) closeListeners() {
	for _, l := range g.listeners {
		l.ln.Close()
	}
	if g.admin != nil {
		g.admin.Close()
	}
}
