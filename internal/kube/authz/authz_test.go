package authz

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/policy"
)

var td = spiffeid.RequireTrustDomainFromString("cluster.local")

const (
	frontend = "spiffe://cluster.local/ns/shop/sa/frontend"
	cart     = "spiffe://cluster.local/ns/shop/sa/cart"
	invoices = "spiffe://cluster.local/ns/billing/sa/invoices"
	partner  = "spiffe://partner.example/billing"
)

// probe is one decision to check: peer "" is a plaintext peer, path "" a
// connection-level decision.
type probe struct {
	peer  string
	port  uint16
	path  string
	allow bool
	rule  string
}

func (p probe) request() policy.Request {
	r := policy.Request{Port: p.port}
	if p.peer != "" {
		r.Peer = spiffeid.RequireFromString(p.peer)
	}
	if p.path != "" {
		r.HTTP = &policy.HTTP{Method: "GET", Path: p.path}
	}
	return r
}

type input struct {
	w   Workload
	td  spiffeid.TrustDomain
	aps []v1alpha1.AuthorizationPolicy
	mps []v1alpha1.MTLSPolicy
}

// baseline: the orders workload, selected by one policy that lets the
// frontend GET /api/orders/ on port 8080.
func baseline() input {
	return input{
		w:   Workload{Namespace: "shop", Labels: map[string]string{"app": "orders", "tier": "backend"}},
		td:  td,
		aps: []v1alpha1.AuthorizationPolicy{frontendReadsOrders()},
	}
}

func frontendReadsOrders() v1alpha1.AuthorizationPolicy {
	return v1alpha1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "frontend-reads-orders"},
		Spec: v1alpha1.AuthorizationPolicySpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Ports:    []v1alpha1.Port{8080},
			From:     []v1alpha1.Peer{{ServiceAccount: &v1alpha1.ServiceAccountRef{Namespace: "shop", Name: "frontend"}}},
			HTTP:     &v1alpha1.HTTPRule{Methods: []v1alpha1.HTTPMethod{"GET"}, PathPrefixes: []v1alpha1.PathPrefix{"/api/orders/"}},
		},
	}
}

func policyNamed(ns, name string, spec v1alpha1.AuthorizationPolicySpec) v1alpha1.AuthorizationPolicy {
	return v1alpha1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func mtls(name string, mode v1alpha1.MTLSMode, sel map[string]string) v1alpha1.MTLSPolicy {
	mp := v1alpha1.MTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: v1alpha1.MTLSPolicySpec{Mode: mode}}
	if sel != nil {
		mp.Spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
	}
	return mp
}

const ruleFRO = "shop/frontend-reads-orders"

func TestForWorkload(t *testing.T) {
	tests := []struct {
		name     string
		change   func(in *input)
		selected []string
		mode     v1alpha1.MTLSMode
		problem  string // substring of the one expected Problem; "" = none
		probes   []probe
	}{
		{name: "baseline", change: func(in *input) {}, selected: []string{ruleFRO}, probes: []probe{
			{peer: frontend, port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
			{peer: frontend, port: 8080, path: "/admin"},
			{peer: frontend, port: 9090},
			{peer: cart, port: 8080, path: "/api/orders/7"},
			{port: 8080, path: "/api/orders/7"},
		}},
		{name: "no policies: any peer of the trust domain", change: func(in *input) { in.aps = nil }, probes: []probe{
			{peer: cart, port: 9090, allow: true, rule: DefaultRule},
			{peer: invoices, port: 8080, allow: true, rule: DefaultRule},
			{peer: partner, port: 8080},
			{port: 8080},
		}},
		{name: "selector does not match", change: func(in *input) { in.w.Labels = map[string]string{"app": "cart"} }, probes: []probe{
			{peer: cart, port: 8080, allow: true, rule: DefaultRule},
		}},
		{name: "policy of another namespace", change: func(in *input) { in.w.Namespace = "billing" }, probes: []probe{
			{peer: cart, port: 8080, allow: true, rule: DefaultRule},
		}},
		{name: "namespace-wide default deny instead", change: func(in *input) {
			in.aps = []v1alpha1.AuthorizationPolicy{policyNamed("shop", "default-deny", v1alpha1.AuthorizationPolicySpec{})}
		}, selected: []string{"shop/default-deny"}, probes: []probe{
			{peer: frontend, port: 8080, path: "/api/orders/7"},
			{peer: cart, port: 9090},
		}},
		{name: "default deny beside it", change: func(in *input) {
			in.aps = append(in.aps, policyNamed("shop", "default-deny", v1alpha1.AuthorizationPolicySpec{}))
		}, selected: []string{"shop/default-deny", ruleFRO}, probes: []probe{
			{peer: frontend, port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
			{peer: cart, port: 9090},
		}},
		{name: "service account in the policy's namespace", change: func(in *input) { in.aps[0].Spec.From[0].ServiceAccount.Namespace = "" }, selected: []string{ruleFRO}, probes: []probe{
			{peer: frontend, port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
		}},
		{name: "service account of another namespace", change: func(in *input) { in.aps[0].Spec.From[0].ServiceAccount.Namespace = "billing" }, selected: []string{ruleFRO}, probes: []probe{
			{peer: frontend, port: 8080, path: "/api/orders/7"},
			{peer: "spiffe://cluster.local/ns/billing/sa/frontend", port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
		}},
		{name: "namespace peer", change: func(in *input) { in.aps[0].Spec.From = []v1alpha1.Peer{{Namespace: "billing"}} }, selected: []string{ruleFRO}, probes: []probe{
			{peer: invoices, port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
			{peer: frontend, port: 8080, path: "/api/orders/7"},
			{peer: "spiffe://partner.example/ns/billing/sa/invoices", port: 8080, path: "/api/orders/7"},
		}},
		{name: "SPIFFE ID peer", change: func(in *input) { in.aps[0].Spec.From = []v1alpha1.Peer{{SPIFFEID: partner}} }, selected: []string{ruleFRO}, probes: []probe{
			{peer: partner, port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
			{peer: "spiffe://partner.example/billing/x", port: 8080, path: "/api/orders/7"},
		}},
		{name: "trust domain peer", change: func(in *input) { in.aps[0].Spec.From = []v1alpha1.Peer{{TrustDomain: "partner.example"}} }, selected: []string{ruleFRO}, probes: []probe{
			{peer: partner, port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
			{peer: frontend, port: 8080, path: "/api/orders/7"},
		}},
		{name: "unauthenticated peer", change: func(in *input) { in.aps[0].Spec.From = []v1alpha1.Peer{{Unauthenticated: true}} }, selected: []string{ruleFRO}, probes: []probe{
			{port: 8080, path: "/api/orders/7", allow: true, rule: ruleFRO},
			{peer: frontend, port: 8080, path: "/api/orders/7"},
		}},
		{name: "every port", change: func(in *input) { in.aps[0].Spec.Ports = nil }, selected: []string{ruleFRO}, probes: []probe{
			{peer: frontend, port: 9090, path: "/api/orders/7", allow: true, rule: ruleFRO},
		}},
		{name: "whole connections", change: func(in *input) { in.aps[0].Spec.HTTP = nil }, selected: []string{ruleFRO}, probes: []probe{
			{peer: frontend, port: 8080, allow: true, rule: ruleFRO},
			{peer: frontend, port: 8080, path: "/admin", allow: true, rule: ruleFRO},
		}},
		{name: "selected by expression", change: func(in *input) {
			in.aps[0].Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"backend", "db"}}}}
		}, selected: []string{ruleFRO}, probes: []probe{
			{peer: cart, port: 8080, path: "/api/orders/7"},
		}},
		{name: "no selector: the whole namespace", change: func(in *input) { in.aps[0].Spec.Selector = nil }, selected: []string{ruleFRO}, probes: []probe{
			{peer: cart, port: 8080, path: "/api/orders/7"},
		}},
		{name: "non-canonical prefix fails closed", change: func(in *input) { in.aps[0].Spec.HTTP.PathPrefixes = []v1alpha1.PathPrefix{"/%61pi/"} },
			selected: []string{ruleFRO}, problem: "AuthorizationPolicy shop/frontend-reads-orders: Invalid: policy: invalid policy:\n  - rules[0].http.path_prefixes[0]: \"/%61pi/\" is not in canonical form", probes: []probe{
				{peer: frontend, port: 8080, path: "/api/x"},
			}},
		{name: "unreadable selector fails closed", change: func(in *input) {
			in.aps[0].Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Equals", Values: []string{"cart"}}}}
		}, selected: []string{ruleFRO}, problem: `shop/frontend-reads-orders: Invalid: spec.selector: "Equals" is not a valid label selector operator`, probes: []probe{
			{peer: frontend, port: 8080, path: "/api/orders/7"},
		}},
		{name: "peer with two fields fails closed", change: func(in *input) { in.aps[0].Spec.From[0].Namespace = "shop" },
			selected: []string{ruleFRO}, problem: "spec.from[0]: sets 2 of serviceAccount", probes: []probe{
				{peer: frontend, port: 8080, path: "/api/orders/7"},
			}},
		{name: "no trust domain refuses everything", change: func(in *input) { in.td = spiffeid.TrustDomain{} },
			problem: "trust domain is not set", probes: []probe{
				{peer: frontend, port: 8080, path: "/api/orders/7"},
			}},
		{name: "permissive with no policies admits plaintext", change: func(in *input) {
			in.aps, in.mps = nil, []v1alpha1.MTLSPolicy{mtls("migrating", v1alpha1.ModePermissive, nil)}
		}, mode: v1alpha1.ModePermissive, probes: []probe{
			{port: 8080, allow: true, rule: DefaultRule},
			{peer: cart, port: 8080, allow: true, rule: DefaultRule},
		}},
		{name: "permissive and selected: plaintext only where allowed", change: func(in *input) {
			in.mps = []v1alpha1.MTLSPolicy{mtls("migrating", v1alpha1.ModePermissive, nil)}
		}, selected: []string{ruleFRO}, mode: v1alpha1.ModePermissive, probes: []probe{
			{port: 8080, path: "/api/orders/7"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseline()
			tt.change(&in)
			res := ForWorkload(in.w, in.td, in.aps, in.mps)
			checkResult(t, res, tt.selected, cmpOr(tt.mode, v1alpha1.ModeStrict), tt.problem)
			// A proxy compiles the streamed Rules again: same decisions.
			again, err := policy.New(res.Rules, in.td)
			if err != nil {
				t.Fatalf("compile Rules again: %v", err)
			}
			for _, p := range tt.probes {
				d := res.Policy.Decide(p.request())
				if d.Allow != p.allow || d.Allow && d.Rule != p.rule {
					t.Errorf("%+v: Decide = %+v, want allow=%v rule=%q", p, d, p.allow, p.rule)
				}
				if d2 := again.Decide(p.request()); d2 != d {
					t.Errorf("%+v: Rules compiled again decide %+v, Policy %+v", p, d2, d)
				}
			}
		})
	}
}

func checkResult(t *testing.T, res Result, selected []string, mode v1alpha1.MTLSMode, problem string) {
	t.Helper()
	if !slices.Equal(res.Selected, selected) {
		t.Errorf("Selected = %q, want %q", res.Selected, selected)
	}
	if res.Mode != mode {
		t.Errorf("Mode = %q, want %q", res.Mode, mode)
	}
	switch {
	case problem == "" && len(res.Problems) > 0:
		t.Errorf("Problems = %v, want none", res.Problems)
	case problem != "" && (len(res.Problems) != 1 || !strings.Contains(res.Problems[0].String(), problem)):
		t.Errorf("Problems = %v, want one containing %q", res.Problems, problem)
	}
}

func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// Rule order follows object names, not list order, so the same objects
// always give the same decisions and logs.
func TestForWorkloadOrderIndependent(t *testing.T) {
	a := frontendReadsOrders()
	b := policyNamed("shop", "a-frontend-anything", v1alpha1.AuthorizationPolicySpec{
		From: []v1alpha1.Peer{{ServiceAccount: &v1alpha1.ServiceAccountRef{Name: "frontend"}}},
		HTTP: &v1alpha1.HTTPRule{},
	})
	w := baseline().w
	r1 := ForWorkload(w, td, []v1alpha1.AuthorizationPolicy{a, b}, nil)
	r2 := ForWorkload(w, td, []v1alpha1.AuthorizationPolicy{b, a}, nil)
	want := []string{"shop/a-frontend-anything", ruleFRO}
	if !slices.Equal(r1.Selected, want) || !slices.Equal(r2.Selected, want) {
		t.Fatalf("Selected = %q and %q, want %q", r1.Selected, r2.Selected, want)
	}
	req := probe{peer: frontend, port: 8080, path: "/api/orders/7"}.request()
	if d1, d2 := r1.Policy.Decide(req), r2.Policy.Decide(req); d1 != d2 || d1.Rule != "shop/a-frontend-anything" {
		t.Fatalf("decisions %+v and %+v, want both by shop/a-frontend-anything", d1, d2)
	}
}

// The caller's objects are not reordered or changed.
func TestForWorkloadLeavesInputAlone(t *testing.T) {
	aps := []v1alpha1.AuthorizationPolicy{frontendReadsOrders(), policyNamed("shop", "a", v1alpha1.AuthorizationPolicySpec{})}
	mps := []v1alpha1.MTLSPolicy{mtls("z", v1alpha1.ModeStrict, nil), mtls("a", v1alpha1.ModePermissive, nil)}
	wantAPs := []v1alpha1.AuthorizationPolicy{*aps[0].DeepCopy(), *aps[1].DeepCopy()}
	wantMPs := []v1alpha1.MTLSPolicy{*mps[0].DeepCopy(), *mps[1].DeepCopy()}
	ForWorkload(baseline().w, td, aps, mps)
	if !reflect.DeepEqual(aps, wantAPs) || !reflect.DeepEqual(mps, wantMPs) {
		t.Fatalf("inputs changed:\n%+v\n%+v", aps, mps)
	}
}
