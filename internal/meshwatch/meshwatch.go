// Package meshwatch is the proxy's side of the controller's stream
// (api/mesh/v1): it keeps the latest view of the mesh — destinations, the
// workload's policy and mTLS mode — and keeps it when the stream breaks,
// until a new one arrives. It does not import Kubernetes' client libraries:
// proxies never talk to the API server.
package meshwatch

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/discovery"
	"github.com/hopseal/hopseal/internal/policy"
)

// View is one snapshot, compiled.
type View struct {
	Version   string
	Discovery *discovery.Table
	Policy    *policy.Policy
	Mode      string // config.Strict or config.Permissive
	Policies  []string
}

// Client follows the stream. Before the first snapshot it answers as a
// proxy with no information must: no destination is meshed, every inbound
// connection is refused, mode strict.
type Client struct {
	mesh      meshv1.MeshClient
	req       *meshv1.WatchRequest
	td        spiffeid.TrustDomain
	log       *slog.Logger
	view      atomic.Pointer[View]
	ready     chan struct{}
	readyOnce sync.Once

	// Retry delays after the stream ends or fails, doubling up to the max.
	MinBackoff, MaxBackoff time.Duration
}

// New returns a client for the pod namespace/pod over conn, which must be
// an mTLS connection to the controller.
func New(conn grpc.ClientConnInterface, td spiffeid.TrustDomain, namespace, pod string, log *slog.Logger) *Client {
	return &Client{
		mesh: meshv1.NewMeshClient(conn), req: &meshv1.WatchRequest{Namespace: namespace, Pod: pod},
		td: td, log: log, ready: make(chan struct{}),
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second,
	}
}

// Run follows the stream until ctx ends, calling again after each end.
func (c *Client) Run(ctx context.Context) error {
	return Follow(ctx, c.MinBackoff, c.MaxBackoff, c.watch, func(err error, retry time.Duration) {
		c.log.Warn("mesh stream ended; keeping the last view and calling again", "error", err, "retry_in", retry.String())
	})
}

// Follow runs watch (one stream of a control-plane RPC; got says whether
// anything arrived on it) until ctx ends, calling again after each end with
// a backoff from least doubling to most, back to least once a stream
// delivered. ended hears of each end; what the streams delivered stays in
// force.
func Follow(ctx context.Context, least, most time.Duration, watch func(context.Context) (got bool, err error), ended func(err error, retry time.Duration)) error {
	backoff := least
	for {
		got, err := watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if got {
			backoff = least
		}
		ended(err, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, most)
	}
}

// watch runs one stream; got says whether a snapshot arrived.
func (c *Client) watch(ctx context.Context) (got bool, err error) {
	stream, err := c.mesh.Watch(ctx, c.req)
	if err != nil {
		return false, err
	}
	for {
		snap, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = true
		v, err := Compile(snap, c.td)
		if err != nil {
			c.log.Error("mesh snapshot refused; keeping the last view", "version", snap.Version, "error", err)
			continue
		}
		c.view.Store(v)
		c.readyOnce.Do(func() { close(c.ready) })
		c.log.Info("mesh view updated", "version", v.Version, "destinations", v.Discovery.Len(), "mode", v.Mode, "policies", v.Policies)
	}
}

// Ready is closed once the first snapshot is in force.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// View returns the view in force; nil before the first snapshot.
func (c *Client) View() *View { return c.view.Load() }

// Lookup implements discovery.Source.
func (c *Client) Lookup(dst netip.AddrPort) (discovery.Expect, bool) {
	if v := c.view.Load(); v != nil {
		return v.Discovery.Lookup(dst)
	}
	return nil, false
}

// Policy returns the inbound policy in force.
func (c *Client) Policy() *policy.Policy {
	if v := c.view.Load(); v != nil {
		return v.Policy
	}
	return policy.DenyAll()
}

// Mode returns the inbound mode in force.
func (c *Client) Mode() string {
	if v := c.view.Load(); v != nil {
		return v.Mode
	}
	return config.Strict
}

// Table returns the destinations in force, for the status endpoint.
func (c *Client) Table() *discovery.Table {
	if v := c.view.Load(); v != nil {
		return v.Discovery
	}
	return nil
}

// Compile checks a snapshot as strictly as the files it replaces.
func Compile(snap *meshv1.Snapshot, td spiffeid.TrustDomain) (*View, error) {
	dests := make([]discovery.Destination, 0, len(snap.Destinations))
	for _, d := range snap.Destinations {
		dd := discovery.Destination{Address: d.Address, IDs: d.SpiffeIds}
		for _, p := range d.PlaintextPorts {
			if p == 0 || p > 65535 {
				return nil, fmt.Errorf("destination %s: plaintext port %d is not a port", d.Address, p)
			}
			dd.PlaintextPorts = append(dd.PlaintextPorts, uint16(p))
		}
		dests = append(dests, dd)
	}
	table, err := discovery.New(dests)
	if err != nil {
		return nil, err
	}
	w := snap.Workload
	if w == nil {
		return nil, fmt.Errorf("snapshot %s has no workload", snap.Version)
	}
	if w.Mode != config.Strict && w.Mode != config.Permissive {
		return nil, fmt.Errorf("mode %q: want %s or %s", w.Mode, config.Strict, config.Permissive)
	}
	rules, err := rulesFromProto(w.Rules)
	if err != nil {
		return nil, err
	}
	p, err := policy.New(rules, td)
	if err != nil {
		return nil, err
	}
	return &View{Version: snap.Version, Discovery: table, Policy: p, Mode: w.Mode, Policies: w.Policies}, nil
}

func rulesFromProto(in []*meshv1.Rule) ([]policy.Rule, error) {
	out := make([]policy.Rule, 0, len(in))
	for _, r := range in {
		pr := policy.Rule{Name: r.Name}
		for _, p := range r.Ports {
			if p == 0 || p > 65535 {
				return nil, fmt.Errorf("rule %s: port %d is not a port", r.Name, p)
			}
			pr.Ports = append(pr.Ports, uint16(p))
		}
		for _, f := range r.From {
			pr.From = append(pr.From, policy.Peer{
				SPIFFEID: f.GetSpiffeId(), Namespace: f.GetNamespace(),
				TrustDomain: f.GetTrustDomain(), Unauthenticated: f.GetUnauthenticated(),
			})
		}
		if r.Http != nil {
			pr.HTTP = &policy.HTTPRule{Methods: r.Http.Methods, PathPrefixes: r.Http.PathPrefixes}
		}
		out = append(out, pr)
	}
	return out, nil
}
