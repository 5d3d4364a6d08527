package kube_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/testenv"
)

// A test's own cluster shares nothing with the shared one, and once the test
// ends its processes, port and files are gone.
func TestOwnClusterIsolatedAndRemoved(t *testing.T) {
	shared, sharedCS := admin(t)
	before := children(t)
	var own *testenv.Kube
	t.Run("own", func(t *testing.T) {
		own = testenv.NewKubeAPI(t)
		if own.Server == shared.Server || string(own.CAPEM) == string(shared.CAPEM) {
			t.Fatalf("own cluster %s reuses the shared one's address or CA", own.Server)
		}
		cs, err := kubernetes.NewForConfig(own.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hopseal-own-only"}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx(t), ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := sharedCS.CoreV1().Namespaces().Get(ctx(t), ns.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("namespace of the own cluster in the shared one: %v, want NotFound", err)
		}
		if got := children(t); got["kube-apiserver"] != before["kube-apiserver"]+1 || got["etcd"] != before["etcd"]+1 {
			t.Fatalf("child processes %v while two clusters run (before: %v)", got, before)
		}
	})
	if got := children(t); got["kube-apiserver"] != before["kube-apiserver"] || got["etcd"] != before["etcd"] {
		t.Fatalf("child processes %v after the own cluster's cleanup, want %v", got, before)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(own.Server, "https://"), time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after cleanup", own.Server)
	}
	if _, err := os.Stat(filepath.Dir(own.Kubeconfig)); !os.IsNotExist(err) {
		t.Fatalf("cluster directory after cleanup: %v, want it removed", err)
	}
}

// children counts this process's child processes by command name.
func children(t *testing.T) map[string]int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(b)) {
			comm, err := os.ReadFile("/proc/" + pid + "/comm")
			if err == nil {
				n[strings.TrimSpace(string(comm))]++
			}
		}
	}
	return n
}
