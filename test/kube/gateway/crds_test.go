package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/testenv"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// gatewayAPIDir is the sigs.k8s.io/gateway-api module in the module cache,
// at the version go.mod requires.
func gatewayAPIDir(t *testing.T) string {
	t.Helper()
	out, err := testenv.Run(t, testenv.RepoRoot(t), "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	if err != nil {
		t.Fatalf("go list the gateway-api module: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// installGatewayCRDs creates the standard channel's CRDs the module ships
// (already there is fine) and waits until they are established. It
// returns their names.
func installGatewayCRDs(t *testing.T, k *testenv.Kube) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(gatewayAPIDir(t), "config", "crd", "standard", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no standard-channel CRDs in the gateway-api module (%v)", err)
	}
	_, dyn := k.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := deploy.Objects(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, obj := range objs {
			if obj.GetKind() != "CustomResourceDefinition" {
				continue // the safe-upgrades admission policy
			}
			names = append(names, obj.GetName())
			if _, err := dyn.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("create CRD %s: %v", obj.GetName(), err)
			}
		}
	}
	for _, name := range names {
		testenv.Eventually(t, 30*time.Second, "CRD "+name+" established", func() bool {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
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
	return names
}
