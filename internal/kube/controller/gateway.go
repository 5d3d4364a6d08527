package controller

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/kube/gatewayapi"
	"github.com/hopseal/hopseal/internal/kube/gateways"
	"github.com/hopseal/hopseal/internal/kube/mesh"
)

// How often the controller reads the TLS Secrets of hopseal's Gateways
// again (it may only get them, never watch), and looks for the Gateway API
// CRDs while they are missing.
const (
	gatewaySecretPoll = 10 * time.Second
	gatewayCRDPoll    = 30 * time.Second
)

// gatewayAPI is the controller's Gateway API side (--gateway-api): on
// every replica, the state once the CRDs are installed and the stream to
// gateways; on the leader, status.
type gatewayAPI struct {
	client kubernetes.Interface
	dyn    dynamic.Interface
	mesh   *mesh.State
	log    *slog.Logger
	state  atomic.Pointer[gateways.State]
	ready  chan struct{}
	server *gateways.Server
}

func newGatewayAPI(client kubernetes.Interface, dyn dynamic.Interface, m *mesh.State, bundles x509bundle.Source, log *slog.Logger) *gatewayAPI {
	g := &gatewayAPI{client: client, dyn: dyn, mesh: m, log: log, ready: make(chan struct{})}
	g.server = &gateways.Server{State: g.state.Load, Ready: g.ready, Mesh: m, Bundles: bundles, Now: time.Now, Log: log,
		PodWait: 10 * time.Second, Coalesce: 100 * time.Millisecond}
	return g
}

// run waits for the Gateway API CRDs, fills the caches, then keeps the
// Secrets current until ctx ends.
func (g *gatewayAPI) run(ctx context.Context) error {
	logged := false
	for {
		missing, err := gateways.Missing(g.client.Discovery())
		if err == nil && len(missing) == 0 {
			break
		}
		if !logged {
			g.log.Warn("Gateway API support waits for its CRDs (install the standard channel of Gateway API v1.6)",
				"missing", strings.Join(missing, ", "), "error", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(gatewayCRDPoll):
		}
	}
	st := gateways.NewState(g.mesh, g.client, g.dyn, g.log)
	if err := st.Start(ctx); err != nil {
		return err
	}
	g.state.Store(st)
	close(g.ready)
	g.log.Info("following Gateway API resources", "controller_name", string(gatewayapi.ControllerName))
	st.RunSecrets(ctx, gatewaySecretPoll)
	return nil
}

// alongside runs the status writer next to run, on the leader; g may be
// nil (no Gateway API).
func (g *gatewayAPI) alongside(ctx context.Context, run func(context.Context) error) {
	if g == nil {
		run(ctx)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-g.ready:
		case <-ctx.Done():
			return
		}
		w := &gateways.Writer{State: g.state.Load(), Dyn: g.dyn, Log: g.log, Resync: time.Minute, Coalesce: writerCoalesce}
		w.Run(ctx)
	}()
	run(ctx)
	<-done
}

// Namespaces are those of hopseal's Gateways: gateway pods there mount
// the trust bundle (controller.BundleNamespaces).
func (g *gatewayAPI) Namespaces() []string {
	st := g.state.Load()
	if st == nil {
		return nil
	}
	var out []string
	for _, gw := range st.Gateways() {
		out = append(out, gw.Namespace)
	}
	return out
}

// Changed is closed at the next change of a Gateway API object; nil (never)
// while the CRDs are missing.
func (g *gatewayAPI) Changed() <-chan struct{} {
	if st := g.state.Load(); st != nil {
		return st.Changed()
	}
	return nil
}
