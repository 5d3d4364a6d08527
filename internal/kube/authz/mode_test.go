package authz

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
)

func TestMode(t *testing.T) {
	orders := map[string]string{"app": "orders"}
	const (
		strict     = v1alpha1.ModeStrict
		permissive = v1alpha1.ModePermissive
	)
	// Baseline: a namespace-wide permissive policy.
	tests := []struct {
		name    string
		change  func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy
		want    v1alpha1.MTLSMode
		from    string
		problem string
	}{
		{name: "baseline", change: keep, want: permissive, from: "shop/namespace"},
		{name: "no policy: strict", change: func([]v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy { return nil }, want: strict},
		{name: "namespace-wide strict", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			mps[0].Spec.Mode = strict
			return mps
		}, want: strict, from: "shop/namespace"},
		{name: "selector beats namespace-wide", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			return append(mps, mtls("orders", strict, orders))
		}, want: strict, from: "shop/orders"},
		{name: "selector that does not pick the workload", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			return append(mps, mtls("cart", strict, map[string]string{"app": "cart"}))
		}, want: permissive, from: "shop/namespace"},
		{name: "policy of another namespace", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			mps[0].Namespace = "billing"
			return mps
		}, want: strict},
		{name: "same level disagrees: strict wins", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			return append(mps, mtls("z-strict", strict, nil))
		}, want: strict, from: "shop/z-strict", problem: "MTLSPolicy shop/namespace: Conflict: says permissive, but shop/z-strict selects the same workloads just as specifically and says strict; strict wins"},
		{name: "empty selector is namespace-wide", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			return append(mps, mtls("empty", strict, map[string]string{}))
		}, want: strict, from: "shop/empty", problem: "Conflict"},
		{name: "unreadable selector saying permissive is ignored", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			mps[0].Spec.Selector = badSelector()
			return mps
		}, want: strict, problem: "MTLSPolicy shop/namespace: Invalid: spec.selector:"},
		{name: "unreadable selector saying strict counts", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			bad := mtls("bad", strict, nil)
			bad.Spec.Selector = badSelector()
			return append(mps, bad)
		}, want: strict, from: "shop/bad", problem: "unless it says strict"},
		{name: "unknown mode is ignored", change: func(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy {
			mps[0].Spec.Mode = "STRICT"
			return mps
		}, want: strict, problem: `spec.mode "STRICT" is not strict or permissive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mps := tt.change([]v1alpha1.MTLSPolicy{mtls("namespace", permissive, nil)})
			res := ForWorkload(Workload{Namespace: "shop", Labels: orders}, td, nil, mps)
			checkResult(t, res, nil, tt.want, tt.problem)
			if res.ModeFrom != tt.from {
				t.Errorf("ModeFrom = %q, want %q", res.ModeFrom, tt.from)
			}
		})
	}
}

func keep(mps []v1alpha1.MTLSPolicy) []v1alpha1.MTLSPolicy { return mps }

func badSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}}
}
