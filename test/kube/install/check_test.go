package install_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hopseal/hopseal/internal/kube/check"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
)

const day = 24 * time.Hour

var mtlsGVR = schema.GroupVersionResource{Group: "hopseal.io", Version: "v1alpha1", Resource: "mtlspolicies"}

// halfDay keeps whole days to expiry away from a boundary while the test runs.
const halfDay = 12 * time.Hour

// TestCheck follows one cluster of its own from empty to installed to
// healthy, then breaks it in the ways `hopseal check` must report.
func TestCheck(t *testing.T) {
	k := testenv.NewKubeAPI(t)
	c := newCluster(t, k)
	admin := k.Kubeconfig

	t.Run("empty cluster: pre-flight passes", func(t *testing.T) {
		r := hopsealCheck(t, admin, "--pre")
		r.exit(t, 0)
		if want := []string{"kubernetes-api", "kubernetes-version", "pre-kubernetes-setup"}; !slices.Equal(r.categories(), want) {
			t.Errorf("categories %v, want %v", r.categories(), want)
		}
		r.expect(t, "is running Kubernetes 1.29.0 or later", check.Success, k.Version)
		r.expect(t, "hopseal CRDs are absent or compatible", check.Success, "none installed yet")
		for _, kind := range []string{"CustomResourceDefinition", "Namespace", "ClusterRole", "Deployment", "MutatingWebhookConfiguration"} {
			r.expect(t, "can create "+kind+" objects", check.Success)
		}
		text := hopsealCheck(t, admin, "--pre", "-o", "text")
		for _, s := range []string{"pre-kubernetes-setup\n--------------------\n", "✔ can create Deployment objects\n", "Status check results are ✔\n"} {
			if !strings.Contains(text.text, s) {
				t.Errorf("text output lacks %q:\n%s", s, text.text)
			}
		}
	})
	t.Run("empty cluster: pre-flight fails for a user who may not install", func(t *testing.T) {
		ns := c.namespace(t, "hopseal-check-")
		r := hopsealCheck(t, k.TokenKubeconfig(t, k.ServiceAccountToken(t, ns, "nobody")), "--pre")
		r.exit(t, 1)
		r.expect(t, "can create CustomResourceDefinition objects", check.Error,
			"not allowed: create customresourcedefinitions.apiextensions.k8s.io, patch customresourcedefinitions.apiextensions.k8s.io")
		r.expect(t, "can create Deployment objects", check.Error, "create deployments.apps in hopseal-system")
	})
	t.Run("empty cluster: the full check stops at the missing CRDs", func(t *testing.T) {
		r := hopsealCheck(t, admin)
		r.exit(t, 1)
		if want := []string{"kubernetes-api", "kubernetes-version", "hopseal-crds"}; !slices.Equal(r.categories(), want) {
			t.Errorf("categories %v, want %v (nothing after a fatal error)", r.categories(), want)
		}
		r.expect(t, "hopseal CRDs are installed", check.Error, "missing: authorizationpolicies.hopseal.io, mtlspolicies.hopseal.io")
		if h := r.result(t, "hopseal CRDs are installed").Hint; !strings.Contains(h, "hopseal install | kubectl apply --server-side") {
			t.Errorf("hint %q does not say how to install", h)
		}
		text := hopsealCheck(t, admin, "-o", "text")
		text.exit(t, 1)
		for _, s := range []string{"✘ hopseal CRDs are installed\n    missing: ", "\n    hint: install hopseal", "Status check results are ✘\n"} {
			if !strings.Contains(text.text, s) {
				t.Errorf("text output lacks %q:\n%s", s, text.text)
			}
		}
	})

	objs := hopsealInstall(t)
	c.applyAll(t, objs)
	testenv.Eventually(t, 30*time.Second, "CRDs to be established", func() bool { return crdsEstablished(t, c, objs) })

	t.Run("installed: nothing runs yet", func(t *testing.T) {
		hopsealCheck(t, admin, "--pre").expect(t, "hopseal CRDs are absent or compatible", check.Success,
			"installed and compatible: authorizationpolicies.hopseal.io, mtlspolicies.hopseal.io")
		r := hopsealCheck(t, admin)
		r.exit(t, 1)
		r.expect(t, "hopseal CRDs are installed", check.Success)
		r.expect(t, "controller has its service account and RBAC", check.Success)
		r.expect(t, "control plane is ready", check.Error, "0 of 2 replicas ready")
		r.expect(t, "trust roots are valid", check.Error, "ConfigMap hopseal-system/hopseal-trust-bundle not found")
		r.expect(t, "issuing CA is valid and chains to a trust root", check.Error, "Secret hopseal-system/hopseal-ca not found")
		r.expect(t, "injection webhook is configured", check.Error, "empty caBundle")
		r.expect(t, "injection webhook has ready endpoints", check.Error, "no ready endpoint")
		r.expect(t, "trust bundle is in every namespace with injection", check.Success, "no namespace with injection")
	})

	shop, other := c.namespace(t, "hopseal-shop-"), c.namespace(t, "hopseal-other-")
	t.Run("a namespace labelled before the controller runs", func(t *testing.T) {
		// Pods created before their namespace was labelled are not injected.
		addPod(t, c, shop, "web", nil)
		addPod(t, c, shop, "batch", map[string]string{"hopseal.io/inject": "disabled"})
		addPod(t, c, shop, "meshed", map[string]string{"hopseal.io/injected": "v1.2.3"})
		label(t, c, shop, "enabled")
		// A pod that opted in by annotation where the webhook fails open.
		addPod(t, c, other, "opted-in", map[string]string{"hopseal.io/inject": "enabled"})
		r := hopsealCheck(t, admin)
		r.exit(t, 1)
		r.expect(t, "namespaces with injection", check.Success, shop)
		r.expect(t, "trust bundle is in every namespace with injection", check.Error, "missing in "+shop)
		r.expect(t, "pods that want the proxy have it", check.Error, "2 without the proxy: ")
		r.expect(t, "pods that want the proxy have it", check.Error, shop+"/web")
		r.expect(t, "pods that want the proxy have it", check.Error, other+"/opted-in")
	})

	// The real controller, with the installed service account's token and
	// so only the chart's RBAC, writes its CA, the trust bundles and the
	// webhook's caBundle. A kubelet and the controller-manager would do the
	// rest: the Deployment's status and the Service's endpoints.
	ctl := startController(t, k, c)
	addEndpoint(t, c)
	t.Run("controller running, one replica ready, a pod without its proxy", func(t *testing.T) {
		setReady(t, c, 1)
		r := hopsealCheck(t, admin)
		r.exit(t, 1)
		r.expect(t, "control plane is ready", check.Warning, "1 of 2 replicas ready")
		r.expect(t, "trust roots are valid", check.Success, "expires in")
		r.expect(t, "issuing CA is valid and chains to a trust root", check.Success, "expires in")
		r.expect(t, "injection webhook is configured", check.Success, "caBundle set")
		r.expect(t, "injection webhook has ready endpoints", check.Success, "10.1.0.7")
		r.expect(t, "trust bundle is in every namespace with injection", check.Success)
		r.expect(t, "pods that want the proxy have it", check.Error, shop+"/web")
	})
	t.Run("healthy", func(t *testing.T) {
		setReady(t, c, 2)
		if err := c.cs.CoreV1().Pods(shop).Delete(ctx(t), "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.cs.CoreV1().Pods(other).Delete(ctx(t), "opted-in", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		r := hopsealCheck(t, admin)
		r.exit(t, 0)
		r.expect(t, "control plane is ready", check.Success, "2 of 2 replicas ready")
		r.expect(t, "pods that want the proxy have it", check.Success)
		r.expect(t, "workloads in permissive mode", check.Success, "none")
		text := hopsealCheck(t, admin, "-o", "text")
		for _, s := range []string{"✔ control plane is ready (2 of 2 replicas ready)\n", "✔ namespaces with injection (" + shop + ")\n", "Status check results are ✔\n"} {
			if !strings.Contains(text.text, s) {
				t.Errorf("text output lacks %q:\n%s", s, text.text)
			}
		}
	})
	t.Run("a permissive workload", func(t *testing.T) {
		addMTLSPolicy(t, c, shop, "legacy-permissive", "permissive", map[string]any{"matchLabels": map[string]any{"app": "legacy"}})
		addMTLSPolicy(t, c, shop, "strict", "strict", nil)
		// The controller reports on policies under the chart's RBAC too.
		testenv.Eventually(t, 30*time.Second, "the controller to accept the MTLSPolicy", func() bool {
			return accepted(t, c, shop, "legacy-permissive")
		})
		r := hopsealCheck(t, admin)
		r.exit(t, 0) // warnings do not fail
		r.expect(t, "workloads in permissive mode", check.Warning, "1 MTLSPolicies: "+shop+"/legacy-permissive (pods app=legacy)")
		text := hopsealCheck(t, admin, "-o", "text")
		for _, s := range []string{"‼ workloads in permissive mode\n    1 MTLSPolicies: ", "\n    hint: these workloads accept plaintext", "Status check results are ✔\n"} {
			if !strings.Contains(text.text, s) {
				t.Errorf("text output lacks %q:\n%s", s, text.text)
			}
		}
	})

	// From here on the test edits the trust bundle, which a running
	// controller would repair.
	ctl.Stop()
	roots, err := pki.ParseCerts([]byte(bundleOf(t, c, "hopseal-system")))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a root about to expire", func(t *testing.T) {
		soon := newRoot(t, time.Now().Add(-day), 10*day+halfDay)
		setBundle(t, c, "hopseal-system", pki.EncodeCerts(append(roots, soon)...))
		r := hopsealCheck(t, admin)
		r.exit(t, 0)
		r.expect(t, "trust roots are valid", check.Warning, "expires in 9 days")
		r.expect(t, "issuing CA is valid and chains to a trust root", check.Success)
		r.expect(t, "trust bundle is in every namespace with injection", check.Warning, "differs from hopseal-system's")
	})
	t.Run("an expired root", func(t *testing.T) {
		old := newRoot(t, time.Now().Add(-400*day-halfDay), 365*day)
		setBundle(t, c, "hopseal-system", pki.EncodeCerts(old))
		r := hopsealCheck(t, admin)
		r.exit(t, 1)
		r.expect(t, "trust roots are valid", check.Error, "expired", "(35 days ago)")
		r.expect(t, "issuing CA is valid and chains to a trust root", check.Error, "does not chain to the trust bundle")
	})
}
