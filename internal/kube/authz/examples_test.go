package authz

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
)

// The shipped examples decode strictly into the Go types and mean what
// their comments say.
func TestExamples(t *testing.T) {
	var aps []v1alpha1.AuthorizationPolicy
	var mps []v1alpha1.MTLSPolicy
	for _, obj := range decodeExamples(t) {
		switch o := obj.(type) {
		case *v1alpha1.AuthorizationPolicy:
			aps = append(aps, *o)
		case *v1alpha1.MTLSPolicy:
			mps = append(mps, *o)
		default:
			t.Fatalf("unexpected object %T", obj)
		}
	}
	if len(aps) != 2 || len(mps) != 1 {
		t.Fatalf("examples hold %d AuthorizationPolicies and %d MTLSPolicies, want 2 and 1", len(aps), len(mps))
	}

	orders := ForWorkload(Workload{Namespace: "shop", Labels: map[string]string{"app": "orders"}}, td, aps, mps)
	checkResult(t, orders, []string{"shop/default-deny", ruleFRO}, v1alpha1.ModeStrict, "")
	for _, p := range []probe{
		{peer: frontend, port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
		{peer: frontend, port: 8080, path: "/api/orders"},
		{peer: cart, port: 8080, path: "/api/orders/7"},
	} {
		if d := orders.Policy.Decide(p.request()); d.Allow != p.allow || d.Allow && d.Rule != p.rule {
			t.Errorf("orders %+v: %+v", p, d)
		}
	}

	legacy := ForWorkload(Workload{Namespace: "shop", Labels: map[string]string{"app": "legacy-billing"}}, td, nil, mps)
	checkResult(t, legacy, nil, v1alpha1.ModePermissive, "")
	if legacy.ModeFrom != "shop/legacy-billing-permissive" {
		t.Errorf("legacy-billing mode from %q", legacy.ModeFrom)
	}
	if d := legacy.Policy.Decide(probe{port: 8080}.request()); !d.Allow {
		t.Errorf("legacy-billing refuses plaintext while permissive: %+v", d)
	}
	// With the default deny in the namespace, plaintext needs an explicit rule.
	withDeny := ForWorkload(Workload{Namespace: "shop", Labels: map[string]string{"app": "legacy-billing"}}, td, aps, mps)
	if d := withDeny.Policy.Decide(probe{port: 8080}.request()); d.Allow {
		t.Errorf("legacy-billing under default deny admits plaintext: %+v", d)
	}
}

func decodeExamples(t *testing.T) []runtime.Object {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
	files, err := filepath.Glob("../../../deploy/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	var out []runtime.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := dec.Decode(data, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, obj)
	}
	return out
}
