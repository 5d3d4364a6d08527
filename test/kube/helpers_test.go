package kube_test

import (
	"context"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/testenv"
)

// admin is a clientset for the shared cluster's admin.
func admin(t *testing.T) (*testenv.Kube, *kubernetes.Clientset) {
	t.Helper()
	k := testenv.KubeAPI(t)
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return k, cs
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// namespace creates a fresh namespace, deleted when the test ends.
func namespace(t *testing.T) string {
	return testenv.KubeAPI(t).Namespace(t, "hopseal-test-", nil)
}

// serviceAccount creates a service account in ns.
func serviceAccount(t *testing.T, cs *kubernetes.Clientset, ns, name string) {
	t.Helper()
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx(t), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service account %s/%s: %v", ns, name, err)
	}
}

// token asks the TokenRequest API for a token of ns/sa with these audiences
// (none: the API server's default audiences).
func token(t *testing.T, cs *kubernetes.Clientset, ns, sa string, audiences ...string) string {
	t.Helper()
	ttl := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx(t), sa, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s %v: %v", ns, sa, audiences, err)
	}
	if tr.Status.Token == "" {
		t.Fatalf("TokenRequest for %s/%s returned an empty token", ns, sa)
	}
	return tr.Status.Token
}
