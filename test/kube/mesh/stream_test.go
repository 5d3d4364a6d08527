package mesh_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/kube/mesh"
	"github.com/hopseal/hopseal/internal/meshwatch"
	"github.com/hopseal/hopseal/internal/policy"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

const (
	td     = "cluster.test"
	ctrlID = "spiffe://cluster.test/hopseal/ca" // the controller serves with the CA's identity
)

type cluster struct {
	cs   kubernetes.Interface
	dyn  dynamic.Interface
	ca   *testpki.CA
	addr string // the mesh server
}

// start runs the controller's State and mesh Server on the shared cluster.
func start(t *testing.T) *cluster {
	t.Helper()
	k := testenv.KubeAPI(t)
	k.InstallCRDs(t)
	cs, dyn := k.Clients(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	state := mesh.NewState(spiffeid.RequireTrustDomainFromString(td), cs, dyn)
	if err := state.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ca := testpki.New(t, td)
	conf := tlsconf.OptionalClientCert(svid{ca.Issue(ctrlID, time.Hour)}, time.Now) // as the CA's port: certificates optional
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	meshv1.RegisterMeshServer(gs, &mesh.Server{State: state, Bundles: ca.Bundle(), Now: time.Now, Log: discard(), PodWait: 5 * time.Second, Coalesce: 50 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return &cluster{cs: cs, dyn: dyn, ca: ca, addr: ln.Addr().String()}
}

type svid struct{ s *x509svid.SVID }

func (s svid) GetX509SVID() (*x509svid.SVID, error) { return s.s, nil }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// watch connects as id and follows namespace/pod.
func (c *cluster) watch(t *testing.T, id, namespace, pod string) *meshwatch.Client {
	t.Helper()
	conf := tlsconf.Client(svid{c.ca.Issue(id, time.Hour)}, c.ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(ctrlID)), time.Now)
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	w := meshwatch.New(conn, spiffeid.RequireTrustDomainFromString(td), namespace, pod, discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (c *cluster) namespace(t *testing.T) string {
	return testenv.KubeAPI(t).Namespace(t, "mesh-", nil)
}

// pod creates a pod and gives it an IP, as the kubelet would.
func (c *cluster) pod(t *testing.T, ns, name, sa, ip string, labels map[string]string, injected bool) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	if injected {
		p.Annotations = map[string]string{inject.AnnotationInjected: "test", inject.AnnotationExcludeInboundPorts: "9000"}
	}
	p, err := c.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if _, err := c.cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// service creates a Service over the named pods with its EndpointSlice, as
// the endpoint slice controller would; it returns the cluster IP.
func (c *cluster) service(t *testing.T, ns, name string, port int32, pods map[string]string) string {
	t.Helper()
	ctx := context.Background()
	svc, err := c.cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: port, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for pod, ip := range pods {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod}})
	}
	if _, err := c.cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return svc.Spec.ClusterIP
}

func (c *cluster) apply(t *testing.T, obj map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	gvr := mesh.AuthorizationPolicies
	if u.GetKind() == "MTLSPolicy" {
		gvr = mesh.MTLSPolicies
	}
	if _, err := c.dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func sa(ns, name string) string { return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", td, ns, name) }

func allows(w *meshwatch.Client, peer string, port uint16) bool {
	return w.Policy().Decide(policy.Request{Peer: spiffeid.RequireFromString(peer), Port: port}).Allow
}

func lookup(w *meshwatch.Client, addr string) string {
	want, ok := w.Lookup(netip.MustParseAddrPort(addr))
	if !ok {
		return ""
	}
	return want.String()
}

func TestStreamFollowsTheCluster(t *testing.T) {
	c := start(t)
	ns := c.namespace(t)
	c.pod(t, ns, "web-1", "web", "10.89.50.1", map[string]string{"app": "web"}, true)
	c.pod(t, ns, "orders-1", "orders", "10.89.50.2", map[string]string{"app": "orders"}, true)
	c.pod(t, ns, "orders-2", "orders-canary", "10.89.50.3", map[string]string{"app": "orders"}, true)
	c.pod(t, ns, "legacy-1", "legacy", "10.89.50.4", map[string]string{"app": "legacy"}, false)
	ordersIP := c.service(t, ns, "orders", 8080, map[string]string{"orders-1": "10.89.50.2", "orders-2": "10.89.50.3"})
	legacyIP := c.service(t, ns, "legacy", 8080, map[string]string{"legacy-1": "10.89.50.4"})

	w := c.watch(t, sa(ns, "web"), ns, "web-1")
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot within 10 s")
	}
	for _, tt := range []struct{ addr, want string }{
		{"10.89.50.2:8080", sa(ns, "orders")},
		{"10.89.50.3:1234", sa(ns, "orders-canary")},
		{"10.89.50.2:9000", ""},  // excluded from interception by annotation
		{"10.89.50.2:14090", ""}, // the proxy's admin port
		{"10.89.50.4:8080", ""},  // not injected
		{ordersIP + ":8080", sa(ns, "orders") + " or " + sa(ns, "orders-canary")},
		{ordersIP + ":8081", ""},
		{legacyIP + ":8080", ""}, // a Service over an unmeshed pod
	} {
		if got := lookup(w, tt.addr); got != tt.want {
			t.Errorf("Lookup(%s) = %q; want %q", tt.addr, got, tt.want)
		}
	}
	// No policy selects web: any identity of the trust domain, strict.
	if !allows(w, sa("other", "x"), 8080) || w.Mode() != "strict" {
		t.Errorf("unselected workload: other namespace allowed %v, mode %s; want true, strict", allows(w, sa("other", "x"), 8080), w.Mode())
	}

	// A policy applied to the cluster is in force at the proxy within 2 s.
	applied := time.Now()
	c.apply(t, map[string]any{
		"apiVersion": "hopseal.io/v1alpha1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "orders-to-web", "namespace": ns},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"ports":    []any{int64(8080)},
			"from":     []any{map[string]any{"serviceAccount": map[string]any{"namespace": ns, "name": "orders"}}},
		},
	})
	created := time.Now()
	testenv.Eventually(t, 2*time.Second, "the policy at the proxy", func() bool { return allows(w, sa(ns, "orders"), 8080) && !allows(w, sa("other", "x"), 8080) })
	t.Logf("policy in force at the proxy %v after the API server stored it (the create call took %v)",
		time.Since(created).Round(time.Millisecond), created.Sub(applied).Round(time.Millisecond))
	if allows(w, sa(ns, "orders"), 8081) || allows(w, sa(ns, "orders-canary"), 8080) {
		t.Error("the policy allows more than its port and service account")
	}

	c.apply(t, map[string]any{
		"apiVersion": "hopseal.io/v1alpha1", "kind": "MTLSPolicy",
		"metadata": map[string]any{"name": "migrating", "namespace": ns},
		"spec":     map[string]any{"mode": "permissive"},
	})
	testenv.Eventually(t, 2*time.Second, "permissive mode at the proxy", func() bool { return w.Mode() == "permissive" })

	// A new meshed pod reaches the web proxy's destinations.
	c.pod(t, ns, "orders-3", "orders", "10.89.50.5", map[string]string{"app": "orders"}, true)
	testenv.Eventually(t, 2*time.Second, "the new pod in discovery", func() bool { return lookup(w, "10.89.50.5:8080") == sa(ns, "orders") })
}

// A proxy may only follow a pod of its own identity.
func TestWatchOnlyOwnPod(t *testing.T) {
	c := start(t)
	ns := c.namespace(t)
	c.pod(t, ns, "web-1", "web", "10.89.51.1", nil, true)
	conf := tlsconf.Client(svid{c.ca.Issue(sa(ns, "orders"), time.Hour)}, c.ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(ctrlID)), time.Now)
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tt := range []struct {
		pod  string
		code codes.Code
	}{
		{"web-1", codes.PermissionDenied},
		{"nobody", codes.NotFound},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stream, err := meshv1.NewMeshClient(conn).Watch(ctx, &meshv1.WatchRequest{Namespace: ns, Pod: tt.pod})
		if err == nil {
			_, err = stream.Recv()
		}
		cancel()
		if status.Code(err) != tt.code {
			t.Errorf("watch %s as orders: %v; want %v", tt.pod, err, tt.code)
		}
	}
}

// The port takes clients without certificates (the CA's first
// attestations), so the stream checks them itself.
func TestWatchNeedsAMeshCertificate(t *testing.T) {
	c := start(t)
	ns := c.namespace(t)
	c.pod(t, ns, "web-1", "web", "10.89.52.1", nil, true)
	other := testpki.New(t, td) // same trust domain name, another CA
	for name, source := range map[string]svid{
		"no certificate":    {nil},
		"another CA's SVID": {other.Issue(sa(ns, "web"), time.Hour)},
	} {
		var src x509svid.Source
		if source.s != nil {
			src = source
		}
		conf := tlsconf.Client(src, c.ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString(ctrlID)), time.Now)
		conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stream, err := meshv1.NewMeshClient(conn).Watch(ctx, &meshv1.WatchRequest{Namespace: ns, Pod: "web-1"})
		if err == nil {
			_, err = stream.Recv()
		}
		cancel()
		conn.Close()
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v; want Unauthenticated", name, err)
		}
	}
}
