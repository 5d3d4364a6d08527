package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/kube/psat"
	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }

// kube is the shared test cluster, as its admin, in a namespace of the test's own.
type kube struct {
	t  *testing.T
	k  *testenv.Kube
	cs *kubernetes.Clientset
	ns string
}

func newKube(t *testing.T) *kube {
	t.Helper()
	k := testenv.KubeAPI(t)
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &kube{t: t, k: k, cs: cs, ns: k.Namespace(t, "hopseal-agent-", nil)}
}

func kctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// psat is the attestor a cluster-mode CA runs, reviewing as the admin.
func (c *kube) psat() attest.Attestor {
	return psat.Attestor{Reviews: c.cs.AuthenticationV1().TokenReviews(), TrustDomain: td}
}

// pod creates service account sa (if absent) and a Pending pod running as it.
func (c *kube) pod(sa, name string) *corev1.Pod {
	c.t.Helper()
	_, err := c.cs.CoreV1().ServiceAccounts(c.ns).Create(kctx(c.t), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		c.t.Fatal(err)
	}
	p, err := c.cs.CoreV1().Pods(c.ns).Create(kctx(c.t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "app", Image: "hopseal.invalid/app:test"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// revoke deletes pod and waits until the API server refuses its tokens
// (it caches a review's answer for 10 s).
func (c *kube) revoke(pod *corev1.Pod, token string) {
	c.t.Helper()
	if err := c.cs.CoreV1().Pods(c.ns).Delete(kctx(c.t), pod.Name, metav1.DeleteOptions{}); err != nil {
		c.t.Fatal(err)
	}
	testenv.Eventually(c.t, 30*time.Second, "the deleted pod's token to be refused", func() bool {
		r, err := c.cs.AuthenticationV1().TokenReviews().Create(kctx(c.t), &authnv1.TokenReview{
			Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{attest.DefaultAudience}},
		}, metav1.CreateOptions{})
		return err == nil && !r.Status.Authenticated
	})
}

// writeToken replaces the token file atomically, as the kubelet does.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".token.tmp")
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
