package testenv

import (
	"net"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hopseal/hopseal/deploy"
)

// InstallHopseal runs `hopseal install` with args and applies what it
// prints with kubectl, server-side under install's field manager, as a
// user would. It returns the manifest's objects.
func (k *Kube) InstallHopseal(t testing.TB, args ...string) []*unstructured.Unstructured {
	t.Helper()
	manifest, err := Run(t, "", Binary(t), append([]string{"install"}, args...)...)
	if err != nil {
		t.Fatalf("hopseal install: %v\n%s", err, manifest)
	}
	k.apply(t, manifest)
	objs, err := deploy.Objects([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// StartController runs `hopseal controller` as the chart's Deployment does,
// with its service account's token, so with exactly the chart's RBAC; args
// add flags. It serves gRPC on listen, where pods reach the controller
// Service. The cluster's network would route the webhook Service to the
// controller; here the controller is a process, so the webhook
// configuration of manifest is pointed at its URL on loopback. It returns
// once the controller serves and has set the webhook's caBundle.
func (k *Kube) StartController(t testing.TB, manifest []*unstructured.Unstructured, listen string, args ...string) *Proc {
	t.Helper()
	hookAddr := FreePort(t) // 127.0.0.1:<port>
	_, hookPort, _ := net.SplitHostPort(hookAddr)
	hookConfig := k.pointWebhookAt(t, manifest, hookPort)
	kubeconfig := k.TokenKubeconfig(t, k.ServiceAccountToken(t, "hopseal-system", "hopseal-controller"))
	ctl := Start(t, t.TempDir(), Binary(t), append([]string{"controller",
		"--kubeconfig", kubeconfig, "--namespace", "hopseal-system",
		"--listen", listen, "--webhook-listen", hookAddr, "--admin-listen", "127.0.0.1:0",
		"--webhook-names", "localhost", "--data-dir", t.TempDir(), "--proxy-image", "hopseal/proxy:test"}, args...)...)
	ctl.WaitLogLines(t, "controller serving", 1, 60*time.Second)
	cs, _ := k.Clients(t)
	Eventually(t, 30*time.Second, "the controller to set the webhook's caBundle", func() bool {
		got, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(kubeCtx(t), hookConfig, metav1.GetOptions{})
		return err == nil && len(got.Webhooks) > 0 && len(got.Webhooks[0].ClientConfig.CABundle) > 0
	})
	return ctl
}

// pointWebhookAt applies install's webhook configuration with a URL on
// loopback instead of the Service, under install's field manager: the next
// install then puts the Service back rather than setting both. It returns
// the configuration's name.
func (k *Kube) pointWebhookAt(t testing.TB, manifest []*unstructured.Unstructured, port string) string {
	t.Helper()
	for _, obj := range manifest {
		if obj.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		obj = obj.DeepCopy()
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		for _, h := range hooks {
			h.(map[string]any)["clientConfig"] = map[string]any{"url": "https://localhost:" + port + "/inject"}
		}
		unstructured.SetNestedSlice(obj.Object, hooks, "webhooks")
		data, err := obj.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		k.apply(t, string(data))
		return obj.GetName()
	}
	t.Fatal("hopseal install printed no MutatingWebhookConfiguration")
	return ""
}

// apply applies a manifest as `hopseal install` would: server-side, under
// its field manager.
func (k *Kube) apply(t testing.TB, manifest string) {
	t.Helper()
	if out, err := k.Kubectl(t, manifest, "apply", "--server-side", "--field-manager", "hopseal", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}
