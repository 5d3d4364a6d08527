package cluster_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/cluster"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainWithKube(m) }

// kubeEnv is the shared test API server with hopseal's CRDs and admin
// clients.
type kubeEnv struct {
	k      *testenv.Kube
	cs     *kubernetes.Clientset
	dyn    *dynamic.DynamicClient
	mapper meta.RESTMapper
}

func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	k := testenv.KubeAPI(t)
	k.InstallCRDs(t)
	e := &kubeEnv{k: k}
	e.cs, e.dyn = k.Clients(t)
	e.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(e.cs.Discovery()))
	return e
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// apply creates the objects of a testdata file, with ${VAR}s replaced;
// cluster-scoped ones are deleted at cleanup (namespaces take theirs).
func (e *kubeEnv) apply(t *testing.T, file string, vars map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := deploy.Objects([]byte(os.Expand(string(raw), func(k string) string { return vars[k] })))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := e.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var r dynamic.ResourceInterface = e.dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			r = e.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		} else {
			name := obj.GetName()
			t.Cleanup(func() { r.Delete(context.Background(), name, metav1.DeleteOptions{}) })
		}
		if _, err := r.Create(ctx(t), obj, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("create %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
}

// scan gathers and scans as hopseal audit cluster does.
func (e *kubeEnv) scan(t *testing.T, o cluster.Options) (cluster.Result, *cluster.Snapshot) {
	t.Helper()
	snap, err := cluster.Gather(ctx(t), e.cs, e.dyn, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Partial) > 0 {
		t.Errorf("partial evidence as admin: %v", snap.Partial)
	}
	return cluster.Scan(snap, o), snap
}

func (e *kubeEnv) createSecret(t *testing.T, s *corev1.Secret) {
	t.Helper()
	if _, err := e.cs.CoreV1().Secrets(s.Namespace).Create(ctx(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *kubeEnv) createBundle(t *testing.T, ns string, certs ...*x509.Certificate) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hopseal-trust-bundle", Namespace: ns},
		Data: map[string]string{"bundle.pem": string(pki.EncodeCerts(certs...))}}
	if _, err := e.cs.CoreV1().ConfigMaps(ns).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// root makes a root CA of trust domain td with key.
func root(t *testing.T, td string, key crypto.Signer, notBefore time.Time, ttl time.Duration) *x509.Certificate {
	t.Helper()
	c, err := pki.NewRoot(spiffeid.RequireTrustDomainFromString(td), key, notBefore, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// want is a finding as tests name it: rule, severity and subject.
type want struct {
	rule     string
	severity audit.Severity
	kind     string
	ns, name string
}

func (w want) String() string {
	return fmt.Sprintf("%s %s %s %s/%s", w.severity, w.rule, w.kind, w.ns, w.name)
}

func keyOf(f audit.Finding) want {
	return want{f.Rule, f.Severity, f.Subject.Kind, f.Subject.Namespace, f.Subject.Name}
}

// sameFindings fails unless the findings are exactly those wanted.
func sameFindings(t *testing.T, got []audit.Finding, wanted []want) {
	t.Helper()
	var g, w []string
	for _, f := range got {
		g = append(g, keyOf(f).String())
		if f.Title == "" || len(f.Evidence) == 0 || f.Severity > audit.Info && (f.Fix == "" || len(f.Controls) == 0) {
			t.Errorf("%s: title, evidence, fix or controls missing: %+v", keyOf(f), f)
		}
	}
	for _, x := range wanted {
		w = append(w, x.String())
	}
	slices.Sort(g)
	slices.Sort(w)
	for _, s := range w {
		if !slices.Contains(g, s) {
			t.Errorf("missing finding: %s", s)
		}
	}
	for _, s := range g {
		if !slices.Contains(w, s) {
			t.Errorf("unexpected finding: %s", s)
		}
	}
	if t.Failed() {
		t.Logf("all findings:\n%s", strings.Join(g, "\n"))
	}
}

func findingOf(fs []audit.Finding, rule, name string) (audit.Finding, bool) {
	for _, f := range fs {
		if f.Rule == rule && f.Subject.Name == name {
			return f, true
		}
	}
	return audit.Finding{}, false
}
