package meshwatch

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/policy"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

const (
	td       = "mesh.test"
	proxyID  = "spiffe://mesh.test/ns/shop/sa/web"
	ctrlID   = "spiffe://mesh.test/ns/hopseal-system/sa/hopseal-controller"
	ordersID = "spiffe://mesh.test/ns/shop/sa/orders"
)

// streamServer sends each snapshot it is given to the current Watch, and
// ends that Watch when told to.
type streamServer struct {
	meshv1.UnimplementedMeshServer
	snaps chan *meshv1.Snapshot
	end   chan struct{}
	calls chan *meshv1.WatchRequest
}

func (s *streamServer) Watch(req *meshv1.WatchRequest, stream meshv1.Mesh_WatchServer) error {
	s.calls <- req
	for {
		select {
		case snap := <-s.snaps:
			if err := stream.Send(snap); err != nil {
				return err
			}
		case <-s.end:
			return io.EOF
		case <-stream.Context().Done():
			return nil
		}
	}
}

type svidSource struct{ s *x509svid.SVID }

func (s svidSource) GetX509SVID() (*x509svid.SVID, error) { return s.s, nil }

func start(t *testing.T) (*Client, *streamServer) {
	t.Helper()
	ca := testpki.New(t, td)
	srv := &streamServer{snaps: make(chan *meshv1.Snapshot), end: make(chan struct{}), calls: make(chan *meshv1.WatchRequest, 8)}
	serverConf := tlsconf.MTLSServer(svidSource{ca.Issue(ctrlID, time.Hour)}, ca.Bundle(), tlsconf.AuthorizeAny(), time.Now)
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverConf)))
	meshv1.RegisterMeshServer(gs, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	clientConf := tlsconf.Client(svidSource{ca.Issue(proxyID, time.Hour)}, ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(ctrlID)), time.Now)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(clientConf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := New(conn, spiffeid.RequireTrustDomainFromString(td), "shop", "web-1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.MinBackoff, c.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, srv
}

func snapshot(version, mode string, ordersAddr string) *meshv1.Snapshot {
	return &meshv1.Snapshot{
		Version:      version,
		Destinations: []*meshv1.Destination{{Address: ordersAddr, SpiffeIds: []string{ordersID}, PlaintextPorts: []uint32{14090}}},
		Workload: &meshv1.Workload{Mode: mode, Policies: []string{"shop/allow-orders"}, Rules: []*meshv1.Rule{{
			Name: "shop/allow-orders", Ports: []uint32{8080},
			From: []*meshv1.Peer{{Kind: &meshv1.Peer_SpiffeId{SpiffeId: ordersID}}},
		}}},
	}
}

func allowed(c *Client, from string) bool {
	d := c.Policy().Decide(policy.Request{Peer: spiffeid.RequireFromString(from), Port: 8080})
	return d.Allow
}

func TestFollowsTheStreamAndKeepsTheLastView(t *testing.T) {
	c, srv := start(t)
	if req := <-srv.calls; req.Namespace != "shop" || req.Pod != "web-1" {
		t.Fatalf("Watch(%v); want shop/web-1", req)
	}
	// Before any snapshot: nothing meshed, everything refused, strict.
	if _, ok := c.Lookup(netip.MustParseAddrPort("10.89.0.3:8080")); ok || allowed(c, ordersID) || c.Mode() != "strict" {
		t.Fatal("before the first snapshot the client must know no destination, refuse every peer and be strict")
	}

	srv.snaps <- snapshot("v1", "permissive", "10.89.0.3")
	<-c.Ready()
	testenv.Eventually(t, 5*time.Second, "v1 in force", func() bool { return c.View() != nil && c.View().Version == "v1" })
	if want, ok := c.Lookup(netip.MustParseAddrPort("10.89.0.3:8080")); !ok || want.String() != ordersID {
		t.Errorf("Lookup(orders) = %v, %v; want %s", want, ok, ordersID)
	}
	if _, ok := c.Lookup(netip.MustParseAddrPort("10.89.0.3:14090")); ok {
		t.Error("the admin port of a pod counts as meshed")
	}
	if !allowed(c, ordersID) || allowed(c, proxyID) || c.Mode() != "permissive" {
		t.Errorf("v1: orders allowed %v, web allowed %v, mode %s; want true, false, permissive", allowed(c, ordersID), allowed(c, proxyID), c.Mode())
	}

	// A snapshot that does not compile is refused and v1 stays.
	bad := snapshot("v2", "sometimes", "10.89.0.4")
	srv.snaps <- bad
	srv.snaps <- snapshot("v3", "strict", "10.89.0.5")
	testenv.Eventually(t, 5*time.Second, "v3 in force", func() bool { return c.View().Version == "v3" })
	if _, ok := c.Lookup(netip.MustParseAddrPort("10.89.0.4:1")); ok {
		t.Error("the invalid snapshot v2 was applied")
	}

	// The stream ends: v3 stays in force, and the client calls again.
	close(srv.end)
	<-srv.calls
	if c.View().Version != "v3" || !allowed(c, ordersID) {
		t.Error("the view was lost when the stream ended")
	}
}

func TestCompileRejects(t *testing.T) {
	tdom := spiffeid.RequireTrustDomainFromString(td)
	for _, tt := range []struct {
		name   string
		change func(*meshv1.Snapshot)
	}{
		{"bad mode", func(s *meshv1.Snapshot) { s.Workload.Mode = "" }},
		{"no workload", func(s *meshv1.Snapshot) { s.Workload = nil }},
		{"bad address", func(s *meshv1.Snapshot) { s.Destinations[0].Address = "orders" }},
		{"bad destination ID", func(s *meshv1.Snapshot) { s.Destinations[0].SpiffeIds = []string{"orders"} }},
		{"plaintext port out of range", func(s *meshv1.Snapshot) { s.Destinations[0].PlaintextPorts = []uint32{70000} }},
		{"rule port out of range", func(s *meshv1.Snapshot) { s.Workload.Rules[0].Ports = []uint32{0} }},
		{"rule without peers", func(s *meshv1.Snapshot) { s.Workload.Rules[0].From = nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compile(snapshot("v", "strict", "10.89.0.3"), tdom); err != nil {
				t.Fatalf("baseline: %v", err)
			}
			s := snapshot("v", "strict", "10.89.0.3")
			tt.change(s)
			if _, err := Compile(s, tdom); err == nil {
				t.Error("compiled; want an error")
			}
		})
	}
}
