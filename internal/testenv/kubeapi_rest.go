package testenv

import (
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
