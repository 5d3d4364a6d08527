package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/sidecar"
	"github.com/hopseal/hopseal/internal/store"
)

// The demo's trust domain and workloads.
const (
	TrustDomain = "demo.hopseal.local"
	Frontend    = "frontend"
	Orders      = "orders"
	Payments    = "payments"
	Intruder    = "intruder"
)

// services are the demo's workloads in call order; never changed.
var services = []string{Frontend, Orders, Payments}

const (
	loopback = "127.0.0.1:0"
	svidTTL  = time.Hour
	tokenTTL = 10 * time.Minute
)

// ServiceID is the SPIFFE ID of a demo workload.
func ServiceID(name string) spiffeid.ID {
	id, err := identity.Kubernetes(spiffeid.RequireTrustDomainFromString(TrustDomain), "shop", name)
	if err != nil {
		panic(err) // the names above are constants
	}
	return id
}

// hop is one proxy-to-proxy leg and the app leg that feeds it.
type hop struct {
	From, To string
	wire     *Tap // from's outbound proxy → to's inbound proxy: must be ciphertext
	plain    *Tap // from's app → from's outbound proxy: plaintext, the contrast
}

// build starts the CA, the apps, the sidecars and the taps. Everything it
// starts runs in d.g and stops when d.ctx ends.
func (d *Demo) build() error {
	if err := d.startCA(); err != nil {
		return err
	}
	apps := map[string]*app{}
	for _, name := range services {
		if name == Frontend && d.opts.Frontend != nil {
			apps[name] = &app{name: name, ln: d.opts.Frontend}
			continue
		}
		a, err := newApp(name, loopback)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, a.ln)
		apps[name] = a
	}
	d.apps = apps

	pay, err := d.startSidecar(Payments, []config.Inbound{inbound(Payments, apps[Payments], Orders)}, nil)
	if err != nil {
		return err
	}
	toPayments, err := d.startHop(Orders, Payments, pay.Addr(Payments))
	if err != nil {
		return err
	}
	ord, err := d.startSidecar(Orders, []config.Inbound{inbound(Orders, apps[Orders], Frontend)}, []config.Outbound{outbound(Payments, toPayments)})
	if err != nil {
		return err
	}
	toOrders, err := d.startHop(Frontend, Orders, ord.Addr(Orders))
	if err != nil {
		return err
	}
	fe, err := d.startSidecar(Frontend, nil, []config.Outbound{outbound(Orders, toOrders)})
	if err != nil {
		return err
	}
	if err := d.startPlainTap(toPayments, ord.Addr(Payments)); err != nil {
		return err
	}
	if err := d.startPlainTap(toOrders, fe.Addr(Orders)); err != nil {
		return err
	}
	d.hops = []*hop{toOrders, toPayments}

	handlers := map[string]http.Handler{
		Frontend: frontendHandler("http://" + toOrders.plain.Addr()),
		Orders:   ordersHandler("http://" + toPayments.plain.Addr()),
		Payments: paymentsHandler(),
	}
	for name, a := range apps {
		h := handlers[name]
		d.g.Go(func() error { return a.serve(d.ctx, h) })
	}
	return nil
}

// inbound lets only caller into service's app.
func inbound(service string, a *app, caller string) config.Inbound {
	return config.Inbound{Name: service, Listen: loopback, Forward: a.addr(), Allow: []spiffeid.ID{ServiceID(caller)}}
}

// outbound sends to the hop's wire tap, which relays to the server's proxy;
// the server must prove the service's identity.
func outbound(service string, h *hop) config.Outbound {
	return config.Outbound{Name: service, Listen: loopback, Upstream: h.wire.Addr(), ServerID: ServiceID(service)}
}

func (d *Demo) startHop(from, to string, inboundAddr net.Addr) (*hop, error) {
	t, err := d.startTap(inboundAddr)
	if err != nil {
		return nil, err
	}
	return &hop{From: from, To: to, wire: t}, nil
}

func (d *Demo) startPlainTap(h *hop, outboundAddr net.Addr) (err error) {
	h.plain, err = d.startTap(outboundAddr)
	return err
}

func (d *Demo) startTap(target net.Addr) (*Tap, error) {
	t, err := NewTap(target.String())
	if err != nil {
		return nil, err
	}
	d.g.Go(func() error { return t.Serve(d.ctx) })
	return t, nil
}

// startCA creates a CA in the demo's directory and serves it on loopback.
func (d *Demo) startCA() error {
	dir := filepath.Join(d.dir, "ca")
	td := spiffeid.RequireTrustDomainFromString(TrustDomain)
	if err := ca.Init(dir, ca.InitOptions{TrustDomain: td, Now: time.Now()}); err != nil {
		return err
	}
	auth, err := ca.Load(dir)
	if err != nil {
		return err
	}
	if d.store, err = store.Open(filepath.Join(dir, ca.FileDB)); err != nil {
		return err
	}
	log := d.log.With("component", "ca")
	authority, err := ca.New(ca.Config{Authority: auth, Store: d.store, SVIDTTL: svidTTL, Log: log})
	if err != nil {
		return err
	}
	d.admin = ca.LocalAdmin{Store: d.store, TrustDomain: td, Clock: clock.Real{}}
	d.roots = auth.Roots
	d.bundleFile = filepath.Join(d.dir, "bundle.pem")
	if err := os.WriteFile(d.bundleFile, pki.EncodeCerts(auth.Roots...), 0o644); err != nil {
		return fmt.Errorf("demo: write trust bundle: %w", err)
	}
	var ls ca.Listeners
	if ls.Issuer, err = net.Listen("tcp", loopback); err != nil {
		return fmt.Errorf("demo: CA listen: %w", err)
	}
	if ls.Bundle, err = net.Listen("tcp", loopback); err != nil {
		ls.Issuer.Close()
		return fmt.Errorf("demo: CA bundle endpoint listen: %w", err)
	}
	d.caAddr, d.bundleAddr = ls.Issuer.Addr().String(), ls.Bundle.Addr().String()
	srv := ca.NewServer(authority, d.admin, log)
	d.g.Go(func() error { return srv.Serve(d.ctx, ls) })
	return nil
}

// token creates a single-use join token for a workload.
func (d *Demo) token(name string) (string, error) {
	tok, _, err := d.admin.CreateJoinToken(d.ctx, ServiceID(name), tokenTTL, false)
	if err != nil {
		return "", fmt.Errorf("demo: join token for %s: %w", name, err)
	}
	return tok, nil
}

// startSidecar runs a workload's proxy, built exactly as `hopseal proxy`
// builds it, with listeners on free loopback ports.
func (d *Demo) startSidecar(name string, in []config.Inbound, out []config.Outbound) (*sidecar.Sidecar, error) {
	tok, err := d.token(name)
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(d.dir, name+".token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("demo: write join token: %w", err)
	}
	cfg := &config.Proxy{
		Identity: config.Identity{
			ID: ServiceID(name), TrustDomain: ServiceID(name).TrustDomain(), CAAddress: d.caAddr,
			BundleFile: d.bundleFile, JoinTokenFile: tokenFile,
		},
		AdminListen: loopback, Inbound: in, Outbound: out,
	}
	sc, err := sidecar.New(cfg, sidecar.Options{Log: d.log.With("service", name), Observer: d.flows.observer(name)})
	if err != nil {
		return nil, fmt.Errorf("demo: %s proxy: %w", name, err)
	}
	d.sidecars[name] = sc
	d.g.Go(func() error {
		if err := sc.Run(d.ctx); err != nil && d.ctx.Err() == nil {
			return fmt.Errorf("demo: %s proxy: %w", name, err)
		}
		return nil
	})
	return sc, nil
}

// waitReady waits until every sidecar holds an SVID and serves.
func (d *Demo) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, name := range services {
		for {
			err := d.sidecars[name].Ready()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("demo: %s proxy not ready: %v", name, err)
			case <-tick.C:
			}
		}
	}
	return nil
}
