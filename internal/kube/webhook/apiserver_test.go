package webhook

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/testenv"
)

// The tests against the API server share one test kube-apiserver per process.
func TestMain(m *testing.M) { testenv.MainWithKube(m) }

// warnings collects the API server's Warning headers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// cluster is the shared API server with the webhook registered at a
// loopback URL, the way a cluster reaches the controller's Service.
type cluster struct {
	cs       *kubernetes.Clientset
	warnings *warnings
	logs     *testenv.Buffer
	stop     context.CancelFunc // stops the webhook server
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	k := testenv.KubeAPI(t)
	c := &cluster{warnings: &warnings{}, logs: &testenv.Buffer{}}
	var err error
	if c.cs, err = kubernetesClient(k, c.warnings); err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "hopseal test CA")
	var cert atomic.Pointer[tls.Certificate]
	cert.Store(ca.serving(t))
	h := &Handler{Config: inject.Defaults("v0.4.0"), Namespaces: FromClient(c.cs),
		Log: slog.New(slog.NewJSONHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	var url string
	url, c.stop = webhookServer(t, h, &cert)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("webhook logs:\n%s", c.logs)
		}
	})

	wh := Configuration(ServiceClientConfig(ca.PEM))
	for i := range wh.Webhooks {
		wh.Webhooks[i].ClientConfig = clientConfigURL(url, ca.PEM)
	}
	if _, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx(t), wh, metav1.CreateOptions{}); err != nil {
		t.Fatalf("register the webhook: %v", err)
	}
	t.Cleanup(func() {
		c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), wh.Name, metav1.DeleteOptions{})
	})
	// The API server picks the configuration up from a watch: wait until
	// a dry-run pod comes back injected.
	probeNS := c.namespace(t, map[string]string{inject.LabelInject: inject.Enabled})
	testenv.Eventually(t, 30*time.Second, "the API server to call the webhook", func() bool {
		p, err := c.cs.CoreV1().Pods(probeNS).Create(ctx(t), pod("ready", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && len(p.Spec.InitContainers) == 2
	})
	return c
}

// kubernetesClient is an admin clientset; warnings, if given, collects the
// API server's warnings.
func kubernetesClient(k *testenv.Kube, w ...*warnings) (*kubernetes.Clientset, error) {
	cfg := k.RESTConfig()
	cfg.QPS, cfg.Burst = 100, 200 // readiness polling must not throttle the test's requests
	if len(w) > 0 {
		cfg.WarningHandler = w[0]
	}
	return kubernetes.NewForConfig(cfg)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// namespace creates a namespace with labels, deleted at cleanup.
func (c *cluster) namespace(t *testing.T, labels map[string]string) string {
	return testenv.KubeAPI(t).Namespace(t, "hopseal-inject-", labels)
}

// create stores p in ns and returns what the API server stored.
func (c *cluster) create(t *testing.T, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	if _, err := c.cs.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, p.Name, err)
	}
	got, err := c.cs.CoreV1().Pods(ns).Get(ctx(t), p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// pod is an app with an httpGet readiness probe on a named port and a
// tcpSocket liveness probe.
func pod(name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			ServiceAccountName: "web",
			Containers: []corev1.Container{{
				Name: "web", Image: "shop/web:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}},
			}},
		},
	}
}
