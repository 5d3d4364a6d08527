package crds_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/testenv"
)

// `kubectl explain` reads the descriptions of the structural schema: every
// field of every kind has one, in the CRD the server stores and in the
// OpenAPI v3 document it publishes.
func TestSchemaDescriptions(t *testing.T) {
	e := setup(t)
	kinds := map[string]string{"authorizationpolicies.hopseal.io": "AuthorizationPolicy", "mtlspolicies.hopseal.io": "MTLSPolicy"}
	for _, name := range crdNames {
		crd, err := e.dyn.Resource(crdGVR).Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		versions, _ := crd.Object["spec"].(map[string]any)["versions"].([]any)
		schema := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
		if missing := undescribed(schema, kinds[name]); len(missing) > 0 {
			t.Errorf("%s: fields without a description: %s", name, strings.Join(missing, ", "))
		}
	}

	// The published document lags the CRD by a moment.
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	testenv.Eventually(t, 30*time.Second, "the OpenAPI v3 document of hopseal.io/v1alpha1", func() bool {
		body, err := e.cs.Discovery().RESTClient().Get().AbsPath("/openapi/v3/apis/hopseal.io/v1alpha1").DoRaw(ctx(t))
		return err == nil && json.Unmarshal(body, &doc) == nil && doc.Components.Schemas["io.hopseal.v1alpha1.MTLSPolicy"] != nil
	})
	for _, kind := range kinds {
		s := doc.Components.Schemas["io.hopseal.v1alpha1."+kind]
		if s == nil {
			t.Fatalf("published schemas lack %s: %v", kind, keys(doc.Components.Schemas))
		}
		if missing := undescribed(s, kind); len(missing) > 0 {
			t.Errorf("published %s: fields without a description: %s", kind, strings.Join(missing, ", "))
		}
	}
	// What `kubectl explain authorizationpolicy.spec.from.spiffeID` prints.
	got := lookup(doc.Components.Schemas["io.hopseal.v1alpha1.AuthorizationPolicy"], "spec", "from", "spiffeID")["description"]
	if s, _ := got.(string); !strings.Contains(s, "allows exactly this identity") {
		t.Fatalf("published description of spec.from.spiffeID = %q", got)
	}
}

// undescribed lists the field paths below s that lack a description. The
// object metadata is described by Kubernetes itself.
func undescribed(s map[string]any, path string) []string {
	var out []string
	if d, _ := s["description"].(string); d == "" && !strings.HasSuffix(path, ".metadata") {
		out = append(out, path)
	}
	if props, ok := s["properties"].(map[string]any); ok && !strings.HasSuffix(path, ".metadata") {
		for _, k := range keys(props) {
			out = append(out, undescribed(props[k].(map[string]any), path+"."+k)...)
		}
	}
	// Items of a list of scalars are explained by the list's description.
	if items, ok := s["items"].(map[string]any); ok && items["type"] == "object" {
		out = append(out, undescribed(items, path+"[]")...)
	}
	return out
}

// lookup follows properties (and list items) by field name.
func lookup(s map[string]any, fields ...string) map[string]any {
	for _, f := range fields {
		if items, ok := s["items"].(map[string]any); ok {
			s = items
		}
		props, _ := s["properties"].(map[string]any)
		s, _ = props[f].(map[string]any)
	}
	return s
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
