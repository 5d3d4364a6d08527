package controller_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/kube/controller"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/kube/webhook"
	"github.com/hopseal/hopseal/internal/meshwatch"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// The controller as `hopseal controller` runs it: a pod's token gets an
// SVID from its CA, the SVID opens the pod's mesh stream on the same port,
// and its webhook, trusted through the caBundle it writes itself, injects
// pods.
func TestControllerEndToEnd(t *testing.T) {
	e := setup(t)
	k := testenv.KubeAPI(t)
	system := e.namespace(t, nil)
	apps := e.namespace(t, map[string]string{inject.LabelInject: inject.Enabled})
	td := spiffeid.RequireTrustDomainFromString("cluster.test")

	issuer, hookLn, admin := listen(t), listen(t), listen(t)
	cfg := inject.Defaults("test")
	cfg.TrustDomain = td.Name()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(ctx, controller.Config{
			REST: k.RESTConfig(), TrustDomain: td, Namespace: system, Listen: issuer, WebhookListen: hookLn, AdminListen: admin,
			CASecret: "hopseal-ca", DataDir: t.TempDir(), Inject: cfg, LeaderElect: true, Identity: "replica-1",
			WebhookNames: []string{"localhost"}, Log: discard(),
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})

	// The leader publishes the bundle; a pod bootstraps trust from it.
	testenv.Eventually(t, 20*time.Second, "the trust bundle ConfigMap", func() bool { return e.configMap(system) != "" })
	roots, err := pki.ParseCerts([]byte(e.configMap(system)))
	if err != nil {
		t.Fatal(err)
	}

	// The webhook, registered without a caBundle, as install does.
	hook := webhook.Configuration(admissionregistrationv1.WebhookClientConfig{URL: ptr("https://localhost:" + port(hookLn) + "/inject")})
	for i := range hook.Webhooks {
		hook.Webhooks[i].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": apps}}
	}
	if _, err := e.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), hook, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), hook.Name, metav1.DeleteOptions{})
	})
	testenv.Eventually(t, 20*time.Second, "the webhook's caBundle", func() bool { return e.webhookCABundle(t) != "" })
	if _, err := e.cs.CoreV1().ServiceAccounts(apps).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := e.cs.CoreV1().Pods(apps).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: apps, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "web", Image: "web"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a pod through the webhook: %v", err)
	}
	if _, ok := pod.Annotations[inject.AnnotationInjected]; !ok || len(pod.Spec.InitContainers) < 2 {
		t.Fatalf("the pod was not injected: annotations %v, %d init containers", pod.Annotations, len(pod.Spec.InitContainers))
	}

	// The pod's token gets its identity from the CA.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(k.PodToken(t, pod, attest.DefaultAudience)), 0o600); err != nil {
		t.Fatal(err)
	}
	want := spiffeid.RequireFromSegments(td, "ns", apps, "sa", "web")
	a, err := agent.New(agent.Config{TrustDomain: td, ExpectedID: want, CAAddress: issuer.Addr().String(), CARoots: roots, TokenFile: tokenFile, Clock: clock.Real{}, Log: discard()})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if err := a.Start(sctx); err != nil {
		t.Fatalf("attest with the pod's token: %v", err)
	}

	// With it, the pod's stream: the mesh's default policy, strict.
	conf := tlsconf.Client(a, a, tlsconf.AuthorizeID(identity.CA(td)), time.Now)
	conn, err := grpc.NewClient(issuer.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := meshwatch.New(conn, td, apps, "web-1", discard())
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() { w.Run(wctx); close(wdone) }()
	defer func() { wcancel(); <-wdone }()
	select {
	case <-w.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("no mesh snapshot within 20 s")
	}
	if v := w.View(); v.Mode != "strict" || len(v.Policies) != 0 {
		t.Errorf("view: mode %s, policies %v; want strict and the mesh default", v.Mode, v.Policies)
	}

	// The admin endpoint counts the stream and says this replica leads.
	metrics := testenv.Scrape(t, admin.Addr().String())
	for name, want := range map[string]float64{"hopseal_mesh_streams": 1, "hopseal_mesh_snapshots_sent_total": 1, "hopseal_controller_leader": 1} {
		if got, ok := testenv.MetricValue(metrics, name, nil); !ok || got < want {
			t.Errorf("%s = %v (found %v); want at least %v", name, got, ok, want)
		}
	}
}

func port(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}
