package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/kube/castate"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/kube/mesh"
	"github.com/hopseal/hopseal/internal/kube/psat"
	"github.com/hopseal/hopseal/internal/kube/webhook"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/store"
	"github.com/hopseal/hopseal/internal/telemetry"
)

// Config is what `hopseal controller` runs with.
type Config struct {
	REST        *rest.Config
	TrustDomain spiffeid.TrustDomain
	Namespace   string // the control plane's own
	// Listeners: the CA's issuer and the mesh stream share Listen (gRPC
	// over TLS); the webhook and admin endpoints have their own.
	Listen, WebhookListen, AdminListen net.Listener
	CASecret, RootCASecret             string
	SVIDTTL                            time.Duration
	DataDir                            string // the CA's audit store
	Inject                             inject.Config
	LeaderElect                        bool
	Identity                           string // this replica, for leader election
	// WebhookNames are the DNS names of the webhook's certificate; empty:
	// the hopseal-controller Service's.
	WebhookNames []string
	// GatewayAPI: follow Gateway API resources of hopseal's GatewayClasses
	// and stream their configuration to hopseal gateways.
	GatewayAPI bool
	Log        *slog.Logger
}

// Run serves the CA, the mesh stream, the sidecar injector and the admin
// endpoints on every replica, and, on the leader, writes trust bundles,
// the webhook's caBundle and policy status, until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	cs, err := kubernetes.NewForConfig(cfg.REST)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg.REST)
	if err != nil {
		return err
	}
	auth, err := castate.LoadOrCreate(ctx, castate.Options{
		Secrets: cs.CoreV1(), Namespace: cfg.Namespace, Name: cfg.CASecret, RootSecret: cfg.RootCASecret,
		TrustDomain: cfg.TrustDomain, Log: log,
	})
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, ca.FileDB))
	if err != nil {
		return fmt.Errorf("CA audit store in %s: %w (mount a writable emptyDir there)", cfg.DataDir, err)
	}
	defer st.Close()
	reg := telemetry.NewRegistry()
	metrics := telemetry.NewControllerMetrics(reg)
	authority, err := ca.New(ca.Config{
		Authority: auth, Store: st, SVIDTTL: cfg.SVIDTTL, Events: telemetry.NewCAMetrics(reg), Log: log,
		Attestors:     []attest.Attestor{psat.Attestor{Reviews: cs.AuthenticationV1().TokenReviews(), TrustDomain: cfg.TrustDomain}},
		NoSVIDRenewal: true,
	})
	if err != nil {
		return err
	}
	state := mesh.NewState(cfg.TrustDomain, cs, dyn)
	if err := state.Start(ctx); err != nil {
		return err
	}
	names := cfg.WebhookNames
	if len(names) == 0 {
		names = serviceNames(cfg.Namespace)
	}
	serving := &ServingCert{CA: authority, Names: names, TTL: 24 * time.Hour, Log: log}
	if err := serving.Issue(); err != nil {
		return err
	}
	bundle := func() []byte { return pki.EncodeCerts(authority.Bundle().X509Authorities()...) }
	meshSrv := &mesh.Server{State: state, Bundles: authority, Now: time.Now, Log: log, PodWait: 10 * time.Second, Coalesce: 100 * time.Millisecond, Events: metrics}
	hook := &webhook.Handler{Config: cfg.Inject, Namespaces: webhook.FromClient(cs), Log: log}
	var gw *gatewayAPI
	if cfg.GatewayAPI {
		gw = newGatewayAPI(cs, dyn, state, authority, log)
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return ca.NewServer(authority, nil, log).Serve(ctx, ca.Listeners{
			Issuer: cfg.Listen,
			Register: func(r grpc.ServiceRegistrar) {
				meshv1.RegisterMeshServer(r, meshSrv)
				if gw != nil {
					meshv1.RegisterGatewaysServer(r, gw.server)
				}
			},
		})
	})
	if gw != nil {
		g.Go(func() error { return gw.run(ctx) })
	}
	g.Go(func() error { return serving.Run(ctx) })
	g.Go(func() error { return webhook.Serve(ctx, cfg.WebhookListen, hook, serving.GetCertificate, log) })
	g.Go(func() error {
		return telemetry.ServeAdmin(ctx, cfg.AdminListen, telemetry.Admin{Registry: reg, Ready: func() error { return nil }})
	})
	writer := &Writer{Client: cs, Dyn: dyn, State: state, System: cfg.Namespace, Bundle: bundle, Log: log, Resync: time.Minute}
	if gw != nil {
		writer.BundleAlso = gw
	}
	g.Go(func() error {
		if !cfg.LeaderElect {
			metrics.Leading(true)
			gw.alongside(ctx, writer.Run)
			return nil
		}
		Lead(ctx, cs, cfg.Namespace, cfg.Identity, log, func(ctx context.Context) {
			metrics.Leading(true)
			defer metrics.Leading(false)
			gw.alongside(ctx, writer.Run)
		})
		return nil
	})
	log.Info("controller serving", "trust_domain", cfg.TrustDomain.Name(), "listen", cfg.Listen.Addr().String(),
		"webhook", cfg.WebhookListen.Addr().String(), "admin", cfg.AdminListen.Addr().String(), "leader_elect", cfg.LeaderElect)
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// serviceNames are the DNS names the API server may use for the webhook.
func serviceNames(namespace string) []string {
	svc := webhook.ServiceName + "." + namespace
	return []string{svc + ".svc", svc + ".svc.cluster.local", svc}
}
