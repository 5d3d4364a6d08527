package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/meshwatch"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// ControlPlane is where a gateway on Kubernetes gets its listeners: the
// controller's Gateways stream (api/mesh/v1), which it calls over mTLS
// with its SVID, as a proxy calls the mesh stream. The gateway never talks
// to the API server.
type ControlPlane struct {
	Address   string // the controller's gRPC address
	Namespace string // the gateway's own (its SPIFFE ID's)
	// Gateway is the name of the Gateway to serve; "": the one the label
	// gateway.networking.k8s.io/gateway-name of Pod names.
	Gateway string
	Pod     string
}

type controlPlane struct {
	g       *Gateway
	conn    *grpc.ClientConn
	client  meshv1.GatewaysClient
	req     *meshv1.GatewayWatchRequest
	applied atomic.Pointer[applied]
	// Retry delays after the stream ends or fails, doubling up to the max.
	minBackoff, maxBackoff time.Duration
}

type applied struct {
	version, gateway string
	listeners        int
}

// setupControlPlane prepares the stream; the connection is made once the
// gateway holds an SVID to present. The controller serves it with the
// CA's identity.
func (g *Gateway) setupControlPlane(cfg *config.Gateway, cp ControlPlane) error {
	if len(cfg.Listeners) > 0 {
		return errors.New("gateway: a gateway configured by the controller has no listeners of its own")
	}
	if cfg.TrustDomain.IsZero() {
		return errors.New("gateway: the controller's identity needs the trust domain")
	}
	conf := tlsconf.Client(g.id, g.id, tlsconf.AuthorizeID(identity.CA(cfg.TrustDomain)), g.clock.Now)
	conn, err := grpc.NewClient(cp.Address, grpc.WithTransportCredentials(credentials.NewTLS(conf)), grpc.WithDisableServiceConfig())
	if err != nil {
		return fmt.Errorf("controller address %q: %w", cp.Address, err)
	}
	g.dyn = &dynamic{g: g}
	g.cp = &controlPlane{g: g, conn: conn, client: meshv1.NewGatewaysClient(conn),
		req:        &meshv1.GatewayWatchRequest{Namespace: cp.Namespace, Gateway: cp.Gateway, Pod: cp.Pod},
		minBackoff: 200 * time.Millisecond, maxBackoff: 5 * time.Second}
	return nil
}

// run follows the stream until ctx ends, calling again after each end; the
// configuration in force stays while the controller cannot be reached.
func (c *controlPlane) run(ctx context.Context) error {
	return meshwatch.Follow(ctx, c.minBackoff, c.maxBackoff, c.watch, func(err error, retry time.Duration) {
		c.g.log.Warn("controller stream ended; keeping the configuration in force and calling again", "error", err, "retry_in", retry.String())
	})
}

func (c *controlPlane) watch(ctx context.Context) (got bool, err error) {
	stream, err := c.client.Watch(ctx, c.req)
	if err != nil {
		return false, err
	}
	for {
		cfg, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = true
		if err := c.apply(cfg); err != nil {
			c.g.log.Error("gateway configuration refused; keeping the one in force", "version", cfg.Version, "gateway", cfg.Gateway, "error", err)
		}
	}
}

func (c *controlPlane) apply(cfg *meshv1.GatewayConfig) error {
	ls, err := FromProto(cfg)
	if err != nil {
		return err
	}
	if err := c.g.Apply(ls); err != nil {
		return err
	}
	c.applied.Store(&applied{version: cfg.Version, gateway: cfg.Gateway, listeners: len(ls)})
	attrs := []any{"version", cfg.Version, "gateway", cfg.Gateway}
	var routes int
	for _, l := range ls {
		attrs = append(attrs, "listener."+l.Name, l.Listen)
		routes += len(l.Routes)
	}
	c.g.log.Info("gateway configuration applied", append(attrs, "routes", routes)...)
	return nil
}

// ready: a configuration with a listener is in force.
func (c *controlPlane) ready() error {
	a := c.applied.Load()
	switch {
	case a == nil:
		return errors.New("no configuration from the controller yet")
	case a.gateway == "":
		return errors.New("the Gateway does not exist or is not of a GatewayClass with controllerName hopseal.io/gateway-controller")
	case a.listeners == 0:
		return fmt.Errorf("Gateway %s has no listener hopseal serves; see its status", a.gateway)
	}
	return nil
}

// FromProto checks a configuration from the controller as strictly as a
// gateway file and returns its listeners, certificates in memory.
func FromProto(cfg *meshv1.GatewayConfig) ([]config.GatewayListener, error) {
	certs := map[string]config.CertPEM{}
	for _, c := range cfg.Certificates {
		if _, dup := certs[c.Name]; dup || c.Name == "" {
			return nil, fmt.Errorf("certificate name %q is empty or repeated", c.Name)
		}
		certs[c.Name] = config.CertPEM{Name: c.Name, Chain: c.CertPem, Key: c.KeyPem}
	}
	var sls []config.StreamedListener
	for i, l := range cfg.Listeners {
		if l.Port == 0 || l.Port > 65535 || l.RedirectHttpsPort > 65535 {
			return nil, fmt.Errorf("listeners[%d] (%s): port %d or redirect port %d is not a port", i, l.Name, l.Port, l.RedirectHttpsPort)
		}
		sl := config.StreamedListener{Unresolved: map[int][]int{}}
		lf := config.GatewayListenerFile{Name: l.Name, Listen: config.ListenAddr(int(l.Port)), ProxyProtocol: l.ProxyProtocol, TrustedForwarders: l.TrustedForwarders}
		if l.RedirectHttpsPort != 0 {
			lf.RedirectHTTPS = &config.RedirectFile{Port: int(l.RedirectHttpsPort)}
		}
		for j, r := range l.Routes {
			rf := config.RouteFile{Hostname: r.Hostname, Mode: strings.ToLower(r.Mode)}
			if r.Certificate != "" {
				rf.TLS = &config.RouteTLSFile{CertFile: r.Certificate, KeyFile: r.Certificate}
			}
			if r.Hsts != "" {
				hf, err := config.HSTSFileOf(r.Hsts)
				if err != nil {
					return nil, fmt.Errorf("listeners[%d].routes[%d] (%s): hsts: %w", i, j, r.Hostname, err)
				}
				rf.HSTS = hf
			}
			var bfs []config.BackendFile
			for k, b := range r.Backends {
				if b.Unresolved {
					sl.Unresolved[j] = append(sl.Unresolved[j], k)
				}
				bf := config.BackendFile{PathPrefix: b.PathPrefix, Address: b.Address, ServerID: b.ServerId, Protocol: b.Protocol}
				if rf.Mode == config.Terminate {
					w := max(int(b.Weight), 1) // 0: unset
					bf.Weight = &w
				}
				bfs = append(bfs, bf)
			}
			if rf.Mode == config.Passthrough && len(bfs) == 1 {
				rf.Backend = &bfs[0]
			} else {
				rf.Backends = bfs
			}
			lf.Routes = append(lf.Routes, rf)
		}
		sl.File = lf
		sls = append(sls, sl)
	}
	return config.ValidateStreamed(sls, certs)
}
