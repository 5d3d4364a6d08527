package controller_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/kube/controller"
	"github.com/hopseal/hopseal/internal/kube/mesh"
	"github.com/hopseal/hopseal/internal/kube/webhook"
	"github.com/hopseal/hopseal/internal/testenv"
)

type env struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
}

func setup(t *testing.T) env {
	t.Helper()
	k := testenv.KubeAPI(t)
	k.InstallCRDs(t)
	cs, dyn := k.Clients(t)
	return env{cs, dyn}
}

func (e env) namespace(t *testing.T, labels map[string]string) string {
	return testenv.KubeAPI(t).Namespace(t, "ctl-", labels)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// bundle is a trust bundle a test can change.
type bundle struct {
	mu  sync.Mutex
	pem string
}

func (b *bundle) get() []byte  { b.mu.Lock(); defer b.mu.Unlock(); return []byte(b.pem) }
func (b *bundle) set(s string) { b.mu.Lock(); b.pem = s; b.mu.Unlock() }

func (e env) configMap(ns string) string {
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(context.Background(), controller.BundleConfigMap, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return cm.Data[controller.BundleKey]
}

func (e env) mtlsAccepted(ns, name string) (status, reason string) {
	u, err := e.dyn.Resource(mesh.MTLSPolicies).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "", ""
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == "Accepted" {
			return m["status"].(string), m["reason"].(string)
		}
	}
	return "", ""
}

func TestWriterBundlesAndStatus(t *testing.T) {
	e := setup(t)
	system := e.namespace(t, nil)
	meshed := e.namespace(t, map[string]string{"hopseal.io/inject": "enabled"})
	plain := e.namespace(t, nil)
	// Two namespace-wide MTLSPolicies that disagree: strict wins, the
	// permissive one is reported as a conflict.
	for name, mode := range map[string]string{"all-strict": "strict", "all-permissive": "permissive"} {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "hopseal.io/v1alpha1", "kind": "MTLSPolicy",
			"metadata": map[string]any{"name": name, "namespace": meshed},
			"spec":     map[string]any{"mode": mode},
		}}
		if _, err := e.dyn.Resource(mesh.MTLSPolicies).Namespace(meshed).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cs.CoreV1().Pods(meshed).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: meshed},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A pod injected by annotation in a namespace without the label needs
	// the bundle too.
	optIn := e.namespace(t, nil)
	if _, err := e.cs.CoreV1().Pods(optIn).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: optIn, Annotations: map[string]string{"hopseal.io/injected": "test"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.webhookConfiguration(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	state := mesh.NewState(spiffeid.RequireTrustDomainFromString("cluster.test"), e.cs, e.dyn)
	if err := state.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b := &bundle{pem: "ROOT-1\n"}
	w := &controller.Writer{Client: e.cs, Dyn: e.dyn, State: state, System: system, Bundle: b.get, Log: discard(), Resync: 200 * time.Millisecond}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	testenv.Eventually(t, 10*time.Second, "the bundle in the system and the injected namespace", func() bool {
		return e.configMap(system) == "ROOT-1\n" && e.configMap(meshed) == "ROOT-1\n"
	})
	testenv.Eventually(t, 10*time.Second, "the bundle where a pod opted in", func() bool { return e.configMap(optIn) == "ROOT-1\n" })
	if got := e.configMap(plain); got != "" {
		t.Errorf("a namespace without injection got the bundle: %q", got)
	}
	testenv.Eventually(t, 10*time.Second, "the webhook's caBundle", func() bool { return e.webhookCABundle(t) == "ROOT-1\n" })
	b.set("ROOT-1\nROOT-2\n") // a root rotation: both roots for a while
	testenv.Eventually(t, 10*time.Second, "the rotated bundle", func() bool {
		return e.configMap(meshed) == "ROOT-1\nROOT-2\n" && e.webhookCABundle(t) == "ROOT-1\nROOT-2\n"
	})

	testenv.Eventually(t, 10*time.Second, "status on both MTLSPolicies", func() bool {
		s1, _ := e.mtlsAccepted(meshed, "all-strict")
		s2, r2 := e.mtlsAccepted(meshed, "all-permissive")
		return s1 == "True" && s2 == "False" && r2 == "Conflict"
	})

	// A namespace labelled later gets the bundle too.
	ns, err := e.cs.CoreV1().Namespaces().Get(context.Background(), plain, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"hopseal.io/inject": "enabled"}
	if _, err := e.cs.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the bundle in the newly labelled namespace", func() bool { return e.configMap(plain) == "ROOT-1\nROOT-2\n" })
}

// Of two replicas one leads; when it stops, the other takes over.
func TestLeaderElection(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	var leading atomic.Int32
	leaders := make(chan string, 4)
	run := func(ctx context.Context, id string) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			controller.Lead(ctx, e.cs, ns, id, discard(), func(ctx context.Context) {
				if leading.Add(1) > 1 {
					t.Errorf("%s leads while another does", id)
				}
				leaders <- id
				<-ctx.Done()
				leading.Add(-1)
			})
		}()
		return done
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneA := run(ctxA, "replica-a")
	first := <-leaders
	doneB := run(ctxB, "replica-b")
	if first != "replica-a" {
		t.Fatalf("first leader %s; want replica-a", first)
	}
	cancelA() // releases the Lease
	<-doneA
	select {
	case second := <-leaders:
		if second != "replica-b" {
			t.Errorf("second leader %s; want replica-b", second)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("replica-b did not take over within 20 s of the release")
	}
	cancelB()
	<-doneB
}

// webhookConfiguration registers hopseal's webhook configuration without a
// caBundle, as install does, pointed at nothing and selecting no namespace
// so that it never affects other tests' pods.
func (e env) webhookConfiguration(t *testing.T) {
	t.Helper()
	cfg := webhook.Configuration(admissionregistrationv1.WebhookClientConfig{URL: ptr("https://127.0.0.1:1/inject")})
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].FailurePolicy = ptr(admissionregistrationv1.Ignore)
		cfg.Webhooks[i].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"hopseal-test": "never"}}
	}
	if _, err := e.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
	})
}

func (e env) webhookCABundle(t *testing.T) string {
	cfg, err := e.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), webhook.ConfigurationName, metav1.GetOptions{})
	if err != nil || len(cfg.Webhooks) == 0 {
		return ""
	}
	for _, w := range cfg.Webhooks[1:] {
		if string(w.ClientConfig.CABundle) != string(cfg.Webhooks[0].ClientConfig.CABundle) {
			return "" // not all of them yet
		}
	}
	return string(cfg.Webhooks[0].ClientConfig.CABundle)
}

func ptr[T any](v T) *T { return &v }
