package install_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/testenv"
)

// startController runs `hopseal controller` as the installed service
// account hopseal-system/hopseal-controller, so with the chart's RBAC and no
// more, and waits until it has written what the chart leaves to it: its CA
// Secret, the trust bundle of every namespace with injection and the
// webhook's caBundle. It is stopped at cleanup, or by the caller.
func startController(t *testing.T, k *testenv.Kube, c *cluster) *testenv.Proc {
	t.Helper()
	dir := t.TempDir()
	cfg := k.TokenKubeconfig(t, k.ServiceAccountToken(t, "hopseal-system", "hopseal-controller"))
	p := testenv.Exec{}.Start(t, dir, "controller", "--kubeconfig", cfg, "--namespace", "hopseal-system",
		"--listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hopseal controller output:\n%s", p.Output())
		}
	})
	done := func(what string, ok func() bool) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "the controller to write "+what, func() bool { return p.Exited() || ok() })
		if p.Exited() {
			t.Fatalf("hopseal controller exited: %v", p.Wait(0))
		}
	}
	done("its CA Secret", func() bool {
		_, err := c.cs.CoreV1().Secrets("hopseal-system").Get(ctx(t), "hopseal-ca", metav1.GetOptions{})
		return err == nil
	})
	nss, err := c.cs.CoreV1().Namespaces().List(ctx(t), metav1.ListOptions{LabelSelector: "hopseal.io/inject=enabled"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range append(nss.Items, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hopseal-system"}}) {
		done("the trust bundle of "+ns.Name, func() bool { return bundleOf(t, c, ns.Name) != "" })
	}
	done("the webhook's caBundle", func() bool {
		wh, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx(t), "hopseal-injector", metav1.GetOptions{})
		return err == nil && len(wh.Webhooks[0].ClientConfig.CABundle) > 0
	})
	return p
}

// bundleOf is the trust bundle ConfigMap's PEM in ns, or "".
func bundleOf(t *testing.T, c *cluster, ns string) string {
	t.Helper()
	cm, err := c.cs.CoreV1().ConfigMaps(ns).Get(ctx(t), "hopseal-trust-bundle", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["bundle.pem"]
}
