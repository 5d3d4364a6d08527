package testenv

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kube is a real kube-apiserver backed by a real etcd, both on loopback, with
// RBAC on and service-account tokens signed by a key made for this run.
//
// Choices, so tests behave as on a real cluster where it matters and do not
// wait for controllers that are not running (there is no controller-manager,
// scheduler or kubelet):
//   - --authorization-mode=Node,RBAC: identities without bindings are Forbidden.
//   - --api-audiences is the issuer alone, as on a real cluster: tokens for
//     hopseal's CA are requested and reviewed with audience "hopseal", and a
//     token without an audience is never valid for it.
//   - --disable-admission-plugins=ServiceAccount: that plugin rejects pods whose
//     service account does not exist, and only the controller-manager creates
//     each namespace's "default" one. Pods are stored as the test wrote them
//     (no token volume is added); tests ask the TokenRequest API for tokens.
//   - --endpoint-reconciler-type=none: the "kubernetes" Service gets no
//     endpoints, since a loopback advertise address is not a valid endpoint.
//   - etcd speaks plain HTTP on loopback and skips fsync: its data lives only
//     as long as the test process.
//
// Deleted namespaces stay Terminating (the namespace controller is absent),
// so tests use fresh namespace names rather than reusing one.
type Kube struct {
	Kubeconfig string        // admin kubeconfig (user hopseal-test-admin in system:masters)
	Server     string        // https://127.0.0.1:<port>
	CAPEM      []byte        // CA that signed the serving cert and the admin client cert
	Version    string        // release the binaries were built from, e.g. v1.37.2
	StartedIn  time.Duration // from starting etcd to /readyz answering ok

	pki       *kubePKI
	dir       string
	binDir    string // kube-apiserver, etcd, kubectl
	etcd, api *kubeProc
}

var sharedKube struct {
	once sync.Once
	k    *Kube
	err  error
}

// KubeAPI returns the test process's shared cluster, starting it on first use
// (building the binaries first if they are not cached). Test packages that
// use it call StopKube from TestMain after m.Run. Tests share it, so each
// works in namespaces of its own.
func KubeAPI(t testing.TB) *Kube {
	t.Helper()
	sharedKube.once.Do(func() { sharedKube.k, sharedKube.err = startKube() })
	k := useKube(t, sharedKube.k, sharedKube.err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("test kube-apiserver logs:\n%s", k.logTails())
		}
	})
	return k
}

// NewKubeAPI starts a cluster of the test's own, stopped and removed at its
// cleanup: for tests that stop, restart or break the control plane. It starts
// in a few seconds once the binaries are cached.
func NewKubeAPI(t testing.TB) *Kube {
	t.Helper()
	k, err := startKube()
	k = useKube(t, k, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("test kube-apiserver logs:\n%s", k.logTails())
		}
		k.stop()
	})
	return k
}

func useKube(t testing.TB, k *Kube, err error) *Kube {
	t.Helper()
	if errors.Is(err, ErrKubeBuildImpossible) {
		Skip(t, "%v", err)
	}
	if err != nil {
		t.Fatalf("test kube-apiserver: %v", err)
	}
	if !k.alive() {
		t.Fatalf("test kube-apiserver is down:\n%s", k.logTails())
	}
	return k
}

// MainWithKube is the TestMain of a package whose tests use KubeAPI: it
// runs them, then stops the shared cluster and removes the binaries built,
// and exits with the tests' code.
func MainWithKube(m *testing.M) {
	code := m.Run()
	StopKube()
	RemoveBuilds()
	os.Exit(code)
}

// StopKube stops the shared cluster, if one was started, and removes its
// files. Call it from TestMain after m.Run.
func StopKube() {
	if k := sharedKube.k; k != nil {
		k.stop()
	}
}

func startKube() (*Kube, error) {
	var build Buffer
	bin, err := KubeBinaries(&build)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, build.String())
	}
	version, err := KubeVersion()
	if err != nil {
		return nil, err
	}
	// A free port can be taken by someone else before etcd or the apiserver
	// binds it; that is the one failure worth another try.
	for attempt := 1; ; attempt++ {
		k, err := launchKube(bin)
		if err == nil {
			k.Version = version
			return k, nil
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
}

func (k *Kube) alive() bool { return !k.etcd.exited() && !k.api.exited() }

func (k *Kube) logTails() string {
	var b strings.Builder
	for _, p := range []*kubeProc{k.etcd, k.api} {
		if p != nil {
			b.WriteString(p.tail(40) + "\n")
		}
	}
	return b.String()
}

func (k *Kube) stop() {
	if k.api != nil {
		k.api.stop(10 * time.Second)
	}
	if k.etcd != nil {
		k.etcd.stop(5 * time.Second)
	}
	os.RemoveAll(k.dir)
}
