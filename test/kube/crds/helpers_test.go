package crds_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/testenv"
)

var (
	crdGVR    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	authzGVR  = schema.GroupVersionResource{Group: "hopseal.io", Version: "v1alpha1", Resource: "authorizationpolicies"}
	mtlsGVR   = schema.GroupVersionResource{Group: "hopseal.io", Version: "v1alpha1", Resource: "mtlspolicies"}
	crdNames  = []string{"authorizationpolicies.hopseal.io", "mtlspolicies.hopseal.io"}
	kindToGVR = map[string]schema.GroupVersionResource{"AuthorizationPolicy": authzGVR, "MTLSPolicy": mtlsGVR}
)

type env struct {
	k   *testenv.Kube
	cs  *kubernetes.Clientset
	dyn *dynamic.DynamicClient
}

// setup installs the CRDs in the shared cluster (once they exist, again is
// a no-op) and waits until both are Established.
func setup(t *testing.T) env {
	t.Helper()
	k := testenv.KubeAPI(t)
	e := env{k: k}
	cfg := k.RESTConfig()
	cfg.QPS, cfg.Burst = 200, 400 // the tables send many requests; the default (5/s) would pace them
	var err error
	if e.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if e.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	k.InstallCRDs(t)
	return e
}

func (e env) crdCondition(t *testing.T, name, condType string) string {
	crd, err := e.dyn.Resource(crdGVR).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get CRD %s: %v", name, err)
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == condType {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// decodeAll reads every object of a YAML stream.
func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := deploy.Objects(data)
	if err != nil {
		t.Fatalf("decode YAML: %v", err)
	}
	return objs
}

// namespace creates a fresh namespace, deleted when the test ends.
func (e env) namespace(t *testing.T) string {
	return e.k.Namespace(t, "hopseal-crd-", nil)
}

// client is the namespaced resource client for an object's kind.
func (e env) client(t *testing.T, obj *unstructured.Unstructured, ns string) dynamic.ResourceInterface {
	t.Helper()
	gvr, ok := kindToGVR[obj.GetKind()]
	if !ok {
		t.Fatalf("object of unknown kind %q", obj.GetKind())
	}
	return e.dyn.Resource(gvr).Namespace(ns)
}

// create stores obj in ns the way kubectl does: unknown fields are errors.
func (e env) create(t *testing.T, obj *unstructured.Unstructured, ns string, dryRun bool) (*unstructured.Unstructured, error) {
	t.Helper()
	opts := metav1.CreateOptions{FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	obj = obj.DeepCopy()
	obj.SetNamespace(ns)
	return e.client(t, obj, ns).Create(ctx(t), obj, opts)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// object parses one YAML document.
func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	objs := decodeAll(t, []byte(doc))
	if len(objs) != 1 {
		t.Fatalf("want one object, got %d in:\n%s", len(objs), doc)
	}
	return objs[0]
}

// mergePatch applies an RFC 7386 JSON merge patch, written in YAML, to a
// copy of obj: a map merges key by key, null deletes, anything else replaces.
func mergePatch(t *testing.T, obj *unstructured.Unstructured, patch string) *unstructured.Unstructured {
	t.Helper()
	var p map[string]any
	if err := yaml.Unmarshal([]byte(patch), &p); err != nil {
		t.Fatalf("patch %q: %v", patch, err)
	}
	out := obj.DeepCopy()
	out.Object = merge(out.Object, p)
	return out
}

func merge(dst, patch map[string]any) map[string]any {
	for k, v := range patch {
		pm, isMap := v.(map[string]any)
		dm, dstMap := dst[k].(map[string]any)
		switch {
		case v == nil:
			delete(dst, k)
		case isMap && dstMap:
			dst[k] = merge(dm, pm)
		case isMap:
			dst[k] = merge(map[string]any{}, pm)
		default:
			dst[k] = v
		}
	}
	return dst
}
