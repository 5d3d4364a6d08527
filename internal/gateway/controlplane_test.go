package gateway_test

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// controller is a stand-in for the controller's Gateways stream: a real
// gRPC server over mTLS with the CA's identity, sending what the test
// pushes.
type controller struct {
	meshv1.UnimplementedGatewaysServer
	addr  string
	push  chan *meshv1.GatewayConfig
	mu    sync.Mutex
	reqs  []*meshv1.GatewayWatchRequest
	peers []spiffeid.ID
}

func (e *env) controller() *controller {
	e.t.Helper()
	src := identity{svid: e.mesh.Issue("spiffe://demo.local/hopseal/ca", time.Hour), bundle: e.mesh.Bundle()}
	conf := tlsconf.MTLSServer(src, src, tlsconf.AuthorizeID(spiffeid.RequireFromString(gatewayID)), time.Now)
	conf.NextProtos = []string{"h2"}
	c := &controller{push: make(chan *meshv1.GatewayConfig, 8)}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	meshv1.RegisterGatewaysServer(gs, c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	go gs.Serve(ln)
	e.t.Cleanup(gs.Stop)
	return c
}

func (c *controller) Watch(req *meshv1.GatewayWatchRequest, stream meshv1.Gateways_WatchServer) error {
	id, _ := tlsconfPeer(stream.Context())
	c.mu.Lock()
	c.reqs, c.peers = append(c.reqs, req), append(c.peers, id)
	c.mu.Unlock()
	for {
		select {
		case cfg := <-c.push:
			if err := stream.Send(cfg); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// startConfigured runs a gateway that takes its listeners from c.
func (e *env) startConfigured(c *controller) *running {
	e.t.Helper()
	cfg := &config.Gateway{Identity: config.Identity{TrustDomain: spiffeid.RequireTrustDomainFromString("demo.local")}, AdminListen: "127.0.0.1:0"}
	r := &running{logs: &testenv.Buffer{}, exited: make(chan struct{})}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	r.gw, err = gateway.New(cfg, gateway.Options{Log: log, Identity: e.gw, DrainTimeout: 3 * time.Second,
		ControlPlane: &gateway.ControlPlane{Address: c.addr, Namespace: "edge", Gateway: "gw"}})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.err = r.gw.Run(ctx); close(r.exited) }()
	e.t.Cleanup(func() {
		cancel()
		<-r.exited
		if r.err != nil {
			e.t.Errorf("Run: %v", r.err)
		}
		if e.t.Failed() {
			e.t.Logf("gateway logs:\n%s", r.logs.String())
		}
	})
	return r
}

// site is one terminate route's configuration on the stream.
func (e *env) siteConfig(version string, port int, backends map[string]string) *meshv1.GatewayConfig {
	e.t.Helper()
	crt, key := e.webCert(e.public, "shop-"+version, x509.ExtKeyUsageServerAuth, "shop.example.com")
	chain, _ := os.ReadFile(crt)
	keyPEM, _ := os.ReadFile(key)
	route := &meshv1.GatewayRoute{Hostname: "shop.example.com", Mode: "terminate", Certificate: "edge/shop-tls"}
	for prefix, addr := range backends {
		b := &meshv1.GatewayBackend{PathPrefix: prefix, Address: addr, ServerId: backendID, Protocol: "http1"}
		if addr == "" {
			b = &meshv1.GatewayBackend{PathPrefix: prefix, Unresolved: true}
		}
		route.Backends = append(route.Backends, b)
	}
	return &meshv1.GatewayConfig{Version: version, Gateway: "edge/gw",
		Listeners:    []*meshv1.GatewayListener{{Name: "https", Port: uint32(port), Routes: []*meshv1.GatewayRoute{route}}},
		Certificates: []*meshv1.GatewayCertificate{{Name: "edge/shop-tls", CertPem: chain, KeyPem: keyPEM}}}
}

const backendID = "spiffe://demo.local/ns/shop/sa/web"

func freePort(t *testing.T) int {
	_, p, _ := net.SplitHostPort(testenv.FreePort(t))
	n, _ := strconv.Atoi(p)
	return n
}

// A gateway configured by the controller serves what the stream says; a
// new configuration applies to new connections and to the next request of
// open ones, while a request in flight finishes; a configuration that does
// not build is refused and the one in force stays; listeners come and go.
func TestControlPlaneConfiguration(t *testing.T) {
	e := newEnv(t)
	gwID := spiffeid.RequireFromString(gatewayID)
	started, release := make(chan struct{}), make(chan struct{})
	a := e.meshServer(backendID, gwID, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			io.WriteString(w, "a-start ")
			w.(http.Flusher).Flush()
			close(started)
			<-release
		}
		io.WriteString(w, "a "+r.URL.Path)
	}))
	b := e.meshServer(backendID, gwID, nil, echo("b"))
	c := e.controller()
	r := e.startConfigured(c)
	testenv.Eventually(t, wait, "serving, not ready before any configuration", func() bool {
		err := r.gw.Ready()
		return err != nil && strings.Contains(err.Error(), "no configuration from the controller")
	})

	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c.push <- e.siteConfig("v1", port, map[string]string{"/": a.Addr})
	testenv.Eventually(t, wait, "gateway ready", func() bool { return r.gw.Ready() == nil })
	client := e.client(addr, false, nil)
	if got := fetch(t, client, "https://shop.example.com/x"); got != "a /x" {
		t.Fatalf("v1: %q, want a's answer", got)
	}
	c.mu.Lock()
	if len(c.reqs) == 0 || c.reqs[0].Namespace != "edge" || c.reqs[0].Gateway != "gw" || c.peers[0].String() != gatewayID {
		t.Errorf("the controller saw %v from %v; want namespace edge, gateway gw, from %s", c.reqs, c.peers, gatewayID)
	}
	c.mu.Unlock()

	// A request in flight on v1 while v2 arrives.
	slow := make(chan string, 1)
	go func() { slow <- fetch(t, e.client(addr, false, nil), "https://shop.example.com/slow") }()
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("the slow request did not reach the backend")
	}
	c.push <- e.siteConfig("v2", port, map[string]string{"/": b.Addr, "/down": ""})
	r.waitLine(t, "gateway configuration applied", func(l map[string]any) bool { return l["version"] == "v2" })
	reused := false
	trace := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
	req, _ := http.NewRequestWithContext(trace, "GET", "https://shop.example.com/y", nil)
	if got := do(t, client, req); !strings.HasPrefix(got, "b HTTP/1.1 /y") || !reused {
		t.Errorf("v2 on the open connection (reused %v): %q; want b's answer", reused, got)
	}
	if resp, err := client.Get("https://shop.example.com/down/z"); err != nil || resp.StatusCode != 500 {
		t.Errorf("unresolved backend: %v %v; want 500", resp, err)
	}
	close(release)
	if got := <-slow; got != "a-start a /slow" {
		t.Errorf("the request in flight across the change got %q", got)
	}

	// A configuration that does not build changes nothing.
	bad := e.siteConfig("v3", port, map[string]string{"/": b.Addr})
	bad.Certificates[0].KeyPem = []byte("not a key")
	c.push <- bad
	r.waitLine(t, "gateway configuration refused; keeping the one in force", func(l map[string]any) bool { return l["version"] == "v3" })
	if got := fetch(t, client, "https://shop.example.com/still"); !strings.HasPrefix(got, "b ") {
		t.Errorf("after a refused configuration: %q; want b's answer", got)
	}
	if strings.Contains(r.logs.String(), "-----BEGIN") {
		t.Error("a private key reached the logs")
	}

	// The listener moves to another port: the old one stops accepting.
	port2 := freePort(t)
	c.push <- e.siteConfig("v4", port2, map[string]string{"/": a.Addr})
	r.waitLine(t, "gateway configuration applied", func(l map[string]any) bool { return l["version"] == "v4" })
	testenv.Eventually(t, wait, "the old port closed", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	if got := fetch(t, e.client(net.JoinHostPort("127.0.0.1", strconv.Itoa(port2)), false, nil), "https://shop.example.com/new"); got != "a /new" {
		t.Errorf("v4: %q, want a's answer on the new port", got)
	}

	// The Gateway gone: nothing served, not ready.
	c.push <- &meshv1.GatewayConfig{Version: "v5"}
	testenv.Eventually(t, wait, "not ready without a Gateway", func() bool { return r.gw.Ready() != nil })
}

func fetch(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) string {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s: %v", req.URL, err)
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// tlsconfPeer is the SPIFFE ID of a gRPC call's client certificate.
func tlsconfPeer(ctx context.Context) (spiffeid.ID, error) {
	p, _ := peer.FromContext(ctx)
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return spiffeid.ID{}, io.EOF
	}
	return tlsconf.PeerID(info.State)
}
