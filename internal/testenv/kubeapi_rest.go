package testenv

import (
	"context"
	"path/filepath"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RESTConfig is a client-go config for the admin (system:masters).
func (k *Kube) RESTConfig() *rest.Config {
	return &rest.Config{
		Host: k.Server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   k.CAPEM,
			CertData: k.pki.adminPEM,
			KeyData:  k.pki.adminKey,
		},
	}
}

// TokenConfig is a client-go config that authenticates with a bearer token,
// such as a service account's from the TokenRequest API.
func (k *Kube) TokenConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            k.Server,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: k.CAPEM},
	}
}

// Clients returns admin clients of k, typed and dynamic.
func (k *Kube) Clients(t testing.TB) (*kubernetes.Clientset, *dynamic.DynamicClient) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs, dyn
}

// ServiceAccountToken creates the service account ns/name if it is absent
// and returns a token of it from the TokenRequest API (the API server's
// audience).
func (k *Kube) ServiceAccountToken(t testing.TB, ns, name string) string {
	t.Helper()
	cs, _ := k.Clients(t)
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(kubeCtx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(kubeCtx(t), name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// TokenKubeconfig writes a kubeconfig file for k that authenticates with
// token, for a process that must run with a service account's rights.
func (k *Kube) TokenKubeconfig(t testing.TB, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: k.CAPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "user"}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Namespace creates a fresh namespace named prefix plus a random suffix,
// with labels, and deletes it at cleanup (it then stays Terminating: no
// controller-manager runs, so tests never reuse names).
func (k *Kube) Namespace(t testing.TB, prefix string, labels map[string]string) string {
	t.Helper()
	cs, _ := k.Clients(t)
	ns, err := cs.CoreV1().Namespaces().Create(kubeCtx(t), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	return ns.Name
}
