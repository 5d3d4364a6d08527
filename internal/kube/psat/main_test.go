package psat_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/kube/psat"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }

// kube is the shared test cluster with an admin client and an attestor
// that reviews tokens as the admin.
type kube struct {
	k    *testenv.Kube
	cs   *kubernetes.Clientset
	psat psat.Attestor
}

func newKube(t *testing.T) *kube {
	t.Helper()
	k := testenv.KubeAPI(t)
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &kube{k: k, cs: cs, psat: psat.Attestor{Reviews: cs.AuthenticationV1().TokenReviews(), TrustDomain: td}}
}

func kctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// namespace creates a fresh namespace (deleted ones stay Terminating).
func (c *kube) namespace(t *testing.T) string {
	return c.k.Namespace(t, "hopseal-psat-", nil)
}

// pod creates service account sa (if absent) and a pod running as it. With
// no kubelet the pod stays Pending, which is all a bound token needs.
func (c *kube) pod(t *testing.T, ns, sa, name string) *corev1.Pod {
	t.Helper()
	_, err := c.cs.CoreV1().ServiceAccounts(ns).Create(kctx(t), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	p, err := c.cs.CoreV1().Pods(ns).Create(kctx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "app", Image: "hopseal.invalid/app:test"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *kube) attest(t *testing.T, token string) (attest.Grant, error) {
	t.Helper()
	return c.psat.Attest(kctx(t), attest.Request{Type: attest.TypeK8sPSAT, Payload: []byte(token)})
}

var td = spiffeid.RequireTrustDomainFromString("example.org")
