package install_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/testenv"
)

// cluster is a test API server with clients for its admin.
type cluster struct {
	k      *testenv.Kube
	cs     *kubernetes.Clientset
	dyn    *dynamic.DynamicClient
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newCluster(t *testing.T, k *testenv.Kube) *cluster {
	t.Helper()
	return clientsFor(t, k, k.RESTConfig())
}

func clientsFor(t *testing.T, k *testenv.Kube, cfg *rest.Config) *cluster {
	t.Helper()
	cfg.QPS, cfg.Burst = 100, 200
	c := &cluster{k: k}
	var err error
	if c.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.cs.Discovery()))
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// hopsealInstall runs `hopseal install args...` and decodes its objects.
func hopsealInstall(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out := testenv.Exec{}.MustOutput(t, t.TempDir(), append([]string{"install"}, args...)...)
	objs, err := deploy.Objects([]byte(out))
	if err != nil {
		t.Fatalf("hopseal install printed something kubectl cannot read: %v", err)
	}
	if len(objs) == 0 {
		t.Fatal("hopseal install printed no object")
	}
	return objs
}

// resource is the client for obj's kind, in its namespace if it has one.
func (c *cluster) resource(t *testing.T, obj *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s: %v", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	return c.dyn.Resource(m.Resource)
}

// apply applies obj server-side as `kubectl apply --server-side
// --field-manager hopseal` does, with unknown fields as errors.
func (c *cluster) apply(t *testing.T, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	t.Helper()
	data, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	opts := metav1.PatchOptions{FieldManager: "hopseal", FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return c.resource(t, obj).Patch(ctx(t), obj.GetName(), types.ApplyPatchType, data, opts)
}

// applyAll applies every object for real and returns the stored ones.
func (c *cluster) applyAll(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, obj := range objs {
		got, err := c.apply(t, obj, false)
		if err != nil {
			t.Fatalf("apply %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		out = append(out, got)
	}
	return out
}

func name(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + " " + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetName()
}

// namespace creates a fresh namespace, deleted at cleanup.
func (c *cluster) namespace(t *testing.T, prefix string) string {
	return c.k.Namespace(t, prefix, nil)
}
