package gateway_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/testenv"
)

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
// (already there is fine) and waits until they are established.
func installGatewayCRDs(t *testing.T, k *testenv.Kube) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(gatewayAPIDir(t), "config", "crd", "standard", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no standard-channel CRDs in the gateway-api module (%v)", err)
	}
	var crds []*unstructured.Unstructured
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
			crds = append(crds, obj)
		}
	}
	k.CreateCRDs(t, crds)
}
