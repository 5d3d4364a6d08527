package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/kube/gateways"
	"github.com/hopseal/hopseal/internal/kube/mesh"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

const ctrlID = "spiffe://" + td + "/hopseal/ca" // the controller serves with the CA's identity

type svid struct{ s *x509svid.SVID }

func (s svid) GetX509SVID() (*x509svid.SVID, error) { return s.s, nil }

// The Gateways stream gives a caller only a Gateway of its own namespace:
// named in the request, or by the label of a pod running as the caller;
// with the Gateway's certificates, over mTLS only.
func TestGatewayStreamAuthorization(t *testing.T) {
	k := testenv.KubeAPI(t)
	k.InstallCRDs(t)
	installGatewayCRDs(t, k)
	cs, dyn := k.Clients(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ms := mesh.NewState(spiffeid.RequireTrustDomainFromString(td), cs, dyn)
	gs := gateways.NewState(ms, cs, dyn, log)
	if err := ms.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := gs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	close(ready)
	ca := testpki.New(t, td)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsconf.OptionalClientCert(svid{ca.Issue(ctrlID, time.Hour)}, time.Now))))
	meshv1.RegisterGatewaysServer(srv, &gateways.Server{State: func() *gateways.State { return gs }, Ready: ready, Mesh: ms,
		Bundles: ca.Bundle(), Now: time.Now, Log: log, PodWait: 3 * time.Second, Coalesce: 50 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	edge := k.Namespace(t, "edge-", nil)
	cert, key, _ := serverCert(t, testpki.New(t, "public.test"), "edge.example.com")
	c := &cluster{k: k, cs: cs, dyn: dyn}
	c.secret(t, edge, "edge-tls", cert, key)
	c.apply(t, `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hopseal-stream}
spec: {controllerName: hopseal.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: not-hopseal}
spec: {controllerName: example.com/other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: `+edge+`}
spec:
  gatewayClassName: hopseal-stream
  listeners:
    - {name: https, port: 443, protocol: HTTPS, hostname: edge.example.com, tls: {certificateRefs: [{name: edge-tls}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: foreign, namespace: `+edge+`}
spec:
  gatewayClassName: not-hopseal
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: edge, namespace: `+edge+`}
spec:
  parentRefs: [{name: gw}]
  hostnames: [edge.example.com]
  rules: [{backendRefs: [{name: nowhere, port: 80}]}]
`)
	t.Cleanup(func() {
		c.k.Kubectl(t, "", "delete", "gatewayclass/hopseal-stream", "gatewayclass/not-hopseal")
		c.k.Kubectl(t, "", "-n", edge, "delete", "gateway/gw", "gateway/foreign", "httproute/edge")
	})
	testenv.Eventually(t, 10*time.Second, "the Gateway and its route in the controller's caches", func() bool {
		return gs.Gateway(types.NamespacedName{Namespace: edge, Name: "gw"}) != nil &&
			slices.ContainsFunc(gs.HTTPRoutes(), func(r *gwv1.HTTPRoute) bool { return r.Namespace == edge })
	})
	c.pod(t, edge, "labelled", "gw", "gw")
	c.pod(t, edge, "unlabelled", "gw", "")
	c.pod(t, edge, "other-sa", "web", "gw")
	id := func(sa string) string { return "spiffe://" + td + "/ns/" + edge + "/sa/" + sa }

	for _, tc := range []struct {
		name    string
		caller  string
		req     *meshv1.GatewayWatchRequest
		code    codes.Code
		gateway string // the configuration's Gateway when allowed
	}{
		{"Gateway of the caller's namespace", id("gw"), &meshv1.GatewayWatchRequest{Namespace: edge, Gateway: "gw"}, codes.OK, edge + "/gw"},
		{"pod labelled with the Gateway", id("gw"), &meshv1.GatewayWatchRequest{Namespace: edge, Pod: "labelled"}, codes.OK, edge + "/gw"},
		{"Gateway of another namespace", "spiffe://" + td + "/ns/shop/sa/gw", &meshv1.GatewayWatchRequest{Namespace: edge, Gateway: "gw"}, codes.PermissionDenied, ""},
		{"pod of another service account", id("gw"), &meshv1.GatewayWatchRequest{Namespace: edge, Pod: "other-sa"}, codes.PermissionDenied, ""},
		{"pod without the label", id("gw"), &meshv1.GatewayWatchRequest{Namespace: edge, Pod: "unlabelled"}, codes.FailedPrecondition, ""},
		{"no pod of that name", id("gw"), &meshv1.GatewayWatchRequest{Namespace: edge, Pod: "nowhere"}, codes.NotFound, ""},
		{"neither Gateway nor pod", id("gw"), &meshv1.GatewayWatchRequest{Namespace: edge}, codes.InvalidArgument, ""},
		{"not a workload ID", "spiffe://" + td + "/gateway", &meshv1.GatewayWatchRequest{Namespace: edge, Gateway: "gw"}, codes.PermissionDenied, ""},
		{"Gateway of another class: nothing to serve", id("gw"), &meshv1.GatewayWatchRequest{Namespace: edge, Gateway: "foreign"}, codes.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := watchOnce(t, ln.Addr().String(), ca, tc.caller, tc.req)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("Watch: %v; want code %s", err, tc.code)
			}
			if tc.code != codes.OK {
				return
			}
			if cfg.Gateway != tc.gateway {
				t.Errorf("configuration of %q, want %q", cfg.Gateway, tc.gateway)
			}
			if tc.gateway != "" && (len(cfg.Certificates) != 1 || !strings.Contains(string(cfg.Certificates[0].KeyPem), "PRIVATE KEY")) {
				t.Errorf("certificates %d: want the listener's key pair", len(cfg.Certificates))
			}
			if tc.gateway == "" && len(cfg.Listeners) != 0 {
				t.Errorf("listeners %v for a Gateway hopseal does not serve", cfg.Listeners)
			}
		})
	}
}

// watchOnce calls Watch as id and returns the first configuration.
func watchOnce(t *testing.T, addr string, ca *testpki.CA, id string, req *meshv1.GatewayWatchRequest) (*meshv1.GatewayConfig, error) {
	t.Helper()
	conf := tlsconf.Client(svid{ca.Issue(id, time.Hour)}, ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(ctrlID)), time.Now)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stream, err := meshv1.NewGatewaysClient(conn).Watch(ctx, req)
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

// pod stores a pod of service account sa, labelled with gateway (if set)
// as the chart labels the gateway's pods.
func (c *cluster) pod(t *testing.T, ns, name, sa, gateway string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "gateway", Image: "hopseal/hopseal:test"}}}}
	if gateway != "" {
		p.Labels = map[string]string{"gateway.networking.k8s.io/gateway-name": gateway}
	}
	if _, err := c.cs.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
