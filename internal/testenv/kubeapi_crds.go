package testenv

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/hopseal/hopseal/deploy"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs creates hopseal's CRDs in k (already there is fine) and waits
// until the API server serves them.
func (k *Kube) InstallCRDs(t testing.TB) {
	t.Helper()
	var crds []*unstructured.Unstructured
	for _, m := range deploy.CRDs() {
		objs, err := deploy.Objects(m.YAML)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		crds = append(crds, objs...)
	}
	k.CreateCRDs(t, crds)
}

// CreateCRDs creates CustomResourceDefinitions in k (already there is
// fine) and waits until each is Established, so the API server serves it.
func (k *Kube) CreateCRDs(t testing.TB, crds []*unstructured.Unstructured) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, obj := range crds {
		if _, err := dyn.Resource(crdResource).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create CRD %s: %v", obj.GetName(), err)
		}
	}
	for _, obj := range crds {
		name := obj.GetName()
		Eventually(t, 30*time.Second, "CRD "+name+" to be Established", func() bool {
			crd, err := dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		})
	}
}
