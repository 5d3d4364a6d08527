package crds_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hopseal/hopseal/deploy"
)

// The embedded manifests are the two CRDs, and the API server serves them
// as the API promises: namespaced, in category hopseal, with status
// subresources.
func TestCRDsServed(t *testing.T) {
	e := setup(t)
	var names []string
	for _, m := range deploy.CRDs() {
		for _, obj := range decodeAll(t, m.YAML) {
			names = append(names, obj.GetName())
			if g, _, _ := unstructured.NestedString(obj.Object, "spec", "group"); g != "hopseal.io" {
				t.Errorf("%s: group %q, want hopseal.io", m.Name, g)
			}
		}
	}
	if !slices.Equal(names, crdNames) {
		t.Fatalf("embedded CRDs %v, want %v", names, crdNames)
	}
	for _, name := range crdNames {
		if got := e.crdCondition(t, name, "NamesAccepted"); got != "True" {
			t.Errorf("%s NamesAccepted = %q, want True", name, got)
		}
	}

	list, err := e.cs.Discovery().ServerResourcesForGroupVersion("hopseal.io/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		kind, short string
	}{
		"authorizationpolicies": {"AuthorizationPolicy", "hsauthz"},
		"mtlspolicies":          {"MTLSPolicy", "hsmtls"},
	}
	seen := map[string]bool{}
	for _, r := range list.APIResources {
		seen[r.Name] = true
		w, ok := want[r.Name]
		if !ok {
			continue
		}
		if r.Kind != w.kind || !r.Namespaced || !slices.Equal(r.ShortNames, []string{w.short}) || !slices.Equal(r.Categories, []string{"hopseal"}) {
			t.Errorf("%s served as %+v; want kind %s, namespaced, short name %s, category hopseal", r.Name, r, w.kind, w.short)
		}
	}
	for res := range want {
		if !seen[res] || !seen[res+"/status"] {
			t.Errorf("discovery lacks %s or %s/status: %v", res, res, seen)
		}
	}
}

// The shipped examples pass the API server's validation (server-side dry
// run, strict fields), and the dry run stores nothing.
func TestExamplesDryRun(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t)
	files, err := filepath.Glob("../../../deploy/examples/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v, want at least 3", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range decodeAll(t, data) {
			t.Run(filepath.Base(f)+"/"+obj.GetName(), func(t *testing.T) {
				if obj.GetNamespace() == "" {
					t.Errorf("example %s has no namespace; examples say where they belong", obj.GetName())
				}
				got, err := e.create(t, obj, ns, true)
				if err != nil {
					t.Fatalf("dry run: %v", err)
				}
				checkGoTypes(t, got)
				_, err = e.client(t, obj, ns).Get(ctx(t), obj.GetName(), metav1.GetOptions{})
				if err == nil {
					t.Fatal("a dry run stored the object")
				}
			})
		}
	}
}
