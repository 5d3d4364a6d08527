package kube_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hopseal/hopseal/internal/testenv"
)

// The release tools/kube pins; bump both together.
const wantVersion = "v1.37.2"

func TestReadyAndVersion(t *testing.T) {
	k, cs := admin(t)
	t.Logf("cluster started in %s at %s", k.StartedIn, k.Server)
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx(t))
	if err != nil || string(body) != "ok" {
		t.Fatalf("/readyz = %q, %v; want ok", body, err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if k.Version != wantVersion || v.GitVersion != wantVersion {
		t.Fatalf("pinned %s, server reports %s (%s.%s); want %s", k.Version, v.GitVersion, v.Major, v.Minor, wantVersion)
	}
	if v.Major != "1" || !regexp.MustCompile(`^\d+$`).MatchString(v.Minor) {
		t.Fatalf("server version major %q minor %q: the version stamp is incomplete", v.Major, v.Minor)
	}
}

// The kubeconfig file alone is enough to act as the admin.
func TestKubeconfigFile(t *testing.T) {
	k := testenv.KubeAPI(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != k.Server {
		t.Fatalf("kubeconfig server %q, want %q", cfg.Host, k.Server)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nss, err := cs.CoreV1().Namespaces().List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces with the kubeconfig: %v", err)
	}
	if !hasNamespace(nss.Items, "kube-system") {
		t.Fatalf("namespaces %v lack kube-system", nss.Items)
	}
	info, err := os.Stat(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig holds the admin key: mode %v, want 0600", info.Mode())
	}
}

func hasNamespace(items []corev1.Namespace, name string) bool {
	for _, n := range items {
		if n.Name == name {
			return true
		}
	}
	return false
}

func TestObjectRoundTrip(t *testing.T) {
	_, cs := admin(t)
	ns := namespace(t)
	cms := cs.CoreV1().ConfigMaps(ns)
	want := map[string]string{"mode": "strict", "peer": "spiffe://demo.local/ns/shop/sa/client"}
	created, err := cms.Create(ctx(t), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "hopseal-policy"}, Data: want,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx(t), "hopseal-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != created.UID || got.Data["mode"] != want["mode"] || got.Data["peer"] != want["peer"] {
		t.Fatalf("read back %s %v, want %s %v", got.UID, got.Data, created.UID, want)
	}
	if err := cms.Delete(ctx(t), "hopseal-policy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx(t), "hopseal-policy", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want NotFound", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("no-such-namespace").Create(ctx(t), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "x"},
	}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("create in a missing namespace: %v, want NotFound (NamespaceLifecycle admission)", err)
	}
}

// A second lookup reuses the cached binaries instead of building again.
func TestBinariesCached(t *testing.T) {
	testenv.KubeAPI(t) // built (or found) them
	start := time.Now()
	dir, err := testenv.KubeBinaries(t.Output())
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("warm lookup took %s: the build cache was not used", took)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode()&0o111 == 0 {
			t.Fatalf("%s in %s has mode %v, want an executable", name, dir, info.Mode())
		}
	}
	if os.Getenv("HOPSEAL_KUBE_BIN_DIR") == "" {
		cache, _ := os.UserCacheDir()
		if rel, err := filepath.Rel(filepath.Join(cache, "hopseal-test", "kube"), dir); err != nil || filepath.Dir(rel) != "." {
			t.Fatalf("binaries in %s, want a key directory under %s", dir, cache)
		}
	}
}
