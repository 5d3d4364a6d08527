package install_test

import (
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hopseal/hopseal/internal/kube/controller"
	"github.com/hopseal/hopseal/internal/testenv"
)

// TestInstall applies `hopseal install` to the shared cluster as a user
// would, in steps that build on each other.
func TestInstall(t *testing.T) {
	c := newCluster(t, testenv.KubeAPI(t))
	objs := hopsealInstall(t)
	var cluster, namespaced []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetNamespace() == "" {
			cluster = append(cluster, o)
		} else {
			namespaced = append(namespaced, o)
		}
	}

	// A dry run stores nothing, so namespaced objects can only be tried
	// once their namespace really exists.
	t.Run("server-side dry run", func(t *testing.T) {
		dryRunAll(t, c, cluster)
		ns := objs[slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "Namespace" })]
		if _, err := c.apply(t, ns, false); err != nil {
			t.Fatalf("apply the namespace: %v", err)
		}
		dryRunAll(t, c, namespaced)
	})
	t.Run("server-side apply", func(t *testing.T) {
		for _, o := range c.applyAll(t, objs) {
			if !managedBy(o, "hopseal") {
				t.Errorf("%s has no fields managed by hopseal: %v", name(o), o.GetManagedFields())
			}
		}
		testenv.Eventually(t, 30*time.Second, "CRDs to be established", func() bool {
			return crdsEstablished(t, c, objs)
		})
	})
	// Once the API server has written the CRDs' status, nothing changes.
	t.Run("applying again changes nothing", func(t *testing.T) {
		before := map[string]string{}
		for _, o := range objs {
			got, err := c.resource(t, o).Get(ctx(t), o.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			before[name(o)] = got.GetResourceVersion()
		}
		for _, o := range c.applyAll(t, hopsealInstall(t)) {
			if rv := o.GetResourceVersion(); rv != before[name(o)] {
				t.Errorf("%s changed: resourceVersion %s → %s", name(o), before[name(o)], rv)
			}
		}
	})
	t.Run("applying again keeps the caBundle the controller set", func(t *testing.T) {
		if err := controller.PatchWebhookCABundle(ctx(t), c.cs, rootPEM(t)); err != nil {
			t.Fatal(err)
		}
		c.applyAll(t, hopsealInstall(t))
		wh, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx(t), "hopseal-injector", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(wh.Webhooks[0].ClientConfig.CABundle) == 0 {
			t.Error("re-applying hopseal install cleared the webhook's caBundle")
		}
	})
	t.Run("controller permissions", func(t *testing.T) { controllerPermissions(t, c) })
}

func dryRunAll(t *testing.T, c *cluster, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if _, err := c.apply(t, o, true); err != nil {
			t.Errorf("dry run of %s refused: %v", name(o), err)
			continue
		}
		if _, err := c.resource(t, o).Get(ctx(t), o.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after a dry run, get %s: %v (want NotFound: nothing stored)", name(o), err)
		}
	}
}

func managedBy(o *unstructured.Unstructured, manager string) bool {
	return slices.ContainsFunc(o.GetManagedFields(), func(f metav1.ManagedFieldsEntry) bool {
		return f.Manager == manager && f.Operation == metav1.ManagedFieldsOperationApply
	})
}

func crdsEstablished(t *testing.T, c *cluster, objs []*unstructured.Unstructured) bool {
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		got, err := c.resource(t, o).Get(ctx(t), o.GetName(), metav1.GetOptions{})
		if err != nil {
			return false
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		if !slices.ContainsFunc(conds, func(x any) bool {
			m, _ := x.(map[string]any)
			return m["type"] == "Established" && m["status"] == "True"
		}) {
			return false
		}
	}
	return true
}
