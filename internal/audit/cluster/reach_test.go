package cluster

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The baseline: web in namespace shop opens api in namespace pay.
var (
	web = Endpoint{Namespace: "shop", Labels: map[string]string{"app": "web"}, IP: netip.MustParseAddr("10.0.0.5")}
	api = Endpoint{Namespace: "pay", Labels: map[string]string{"app": "api"}, IP: netip.MustParseAddr("10.0.1.5"),
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}}}
	nsLabels = map[string]map[string]string{"shop": {"team": "shop"}, "pay": {"team": "pay"}}
)

func np(ns string, sel metav1.LabelSelector, types []networkingv1.PolicyType, in []networkingv1.NetworkPolicyIngressRule, out []networkingv1.NetworkPolicyEgressRule) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: types, Ingress: in, Egress: out}}
}

func sel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func from(peers ...networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyIngressRule {
	return []networkingv1.NetworkPolicyIngressRule{{From: peers}}
}

func port(proto corev1.Protocol, p intstr.IntOrString, end int32) networkingv1.NetworkPolicyPort {
	pp := networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
	if end != 0 {
		pp.EndPort = &end
	}
	return pp
}

var (
	all       = metav1.LabelSelector{}
	ingress   = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egress    = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	both      = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	tcp, udp  = corev1.ProtocolTCP, corev1.ProtocolUDP
	shopNS    = networkingv1.NetworkPolicyPeer{NamespaceSelector: sel("team", "shop")}
	toPay8080 = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("team", "pay")}},
		Ports: []networkingv1.NetworkPolicyPort{port(tcp, intstr.FromInt32(8080), 0)}}}
)

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policies []networkingv1.NetworkPolicy
		src, dst *Endpoint // nil: the baseline
		want     string
	}{
		{name: "no policy", want: "all"},
		{name: "default deny ingress", policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, nil, nil)}, want: "none"},
		{name: "policyTypes omitted means ingress", policies: []networkingv1.NetworkPolicy{np("pay", all, nil, nil, nil)}, want: "none"},
		{name: "default deny in another namespace", policies: []networkingv1.NetworkPolicy{np("other", all, both, nil, nil)}, want: "all"},
		{name: "policy selects other pods", policies: []networkingv1.NetworkPolicy{np("pay", *sel("app", "db"), ingress, nil, nil)}, want: "all"},
		{name: "podSelector peer is the policy's namespace only",
			policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{PodSelector: sel("app", "web")}), nil)}, want: "none"},
		{name: "namespaceSelector peer", policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(shopNS), nil)}, want: "all"},
		{name: "namespaceSelector by metadata name",
			policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: sel(corev1.LabelMetadataName, "shop")}), nil)}, want: "all"},
		{name: "namespace and pod selectors both match",
			policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: sel("team", "shop"), PodSelector: sel("app", "web")}), nil)}, want: "all"},
		{name: "namespace matches, pod does not",
			policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: sel("team", "shop"), PodSelector: sel("app", "cron")}), nil)}, want: "none"},
		{name: "every namespace", policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: &all}), nil)}, want: "all"},
		{name: "rule without peers admits everyone", policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, []networkingv1.NetworkPolicyIngressRule{{}}, nil)}, want: "all"},
		{name: "second peer of a rule matches",
			policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{PodSelector: sel("app", "x")}, shopNS), nil)}, want: "all"},
		{name: "matchExpressions NotIn",
			policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"shop"}}}}}), nil)}, want: "none"},
		{name: "unreadable peer selector matches nothing",
			policies: []networkingv1.NetworkPolicy{np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}}), nil)}, want: "none"},
		{name: "unreadable pod selector isolates nothing",
			policies: []networkingv1.NetworkPolicy{np("pay", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}, ingress, nil, nil)}, want: "all"},
		{name: "numeric port", policies: []networkingv1.NetworkPolicy{withPorts(port(tcp, intstr.FromInt32(8080), 0))}, want: "TCP 8080"},
		{name: "protocol omitted is TCP", policies: []networkingv1.NetworkPolicy{withPorts(networkingv1.NetworkPolicyPort{Port: ptr(intstr.FromInt32(443))})}, want: "TCP 443"},
		{name: "UDP port", policies: []networkingv1.NetworkPolicy{withPorts(port(udp, intstr.FromInt32(53), 0))}, want: "UDP 53"},
		{name: "port range with endPort", policies: []networkingv1.NetworkPolicy{withPorts(port(tcp, intstr.FromInt32(8000), 8100))}, want: "TCP 8000-8100"},
		{name: "named port", policies: []networkingv1.NetworkPolicy{withPorts(port(tcp, intstr.FromString("http"), 0))}, want: "TCP 8080"},
		{name: "named UDP port", policies: []networkingv1.NetworkPolicy{withPorts(port(udp, intstr.FromString("dns"), 0))}, want: "UDP 5353"},
		{name: "named port of another protocol", policies: []networkingv1.NetworkPolicy{withPorts(port(udp, intstr.FromString("http"), 0))}, want: "none"},
		{name: "named port the pod lacks", policies: []networkingv1.NetworkPolicy{withPorts(port(tcp, intstr.FromString("metrics"), 0))}, want: "none"},
		{name: "protocol without port", policies: []networkingv1.NetworkPolicy{withPorts(networkingv1.NetworkPolicyPort{Protocol: &udp})}, want: "UDP 1-65535"},
		{name: "rules of two policies add up",
			policies: []networkingv1.NetworkPolicy{withPorts(port(tcp, intstr.FromInt32(8080), 0)), withPorts(port(tcp, intstr.FromInt32(80), 0))}, want: "TCP 80, 8080"},
		{name: "ipBlock holds the source", policies: []networkingv1.NetworkPolicy{block("10.0.0.0/16")}, want: "all"},
		{name: "ipBlock except holds the source", policies: []networkingv1.NetworkPolicy{block("10.0.0.0/16", "10.0.0.0/24")}, want: "none"},
		{name: "ipBlock misses the source", policies: []networkingv1.NetworkPolicy{block("192.168.0.0/16")}, want: "none"},
		{name: "ipBlock and unknown source address", policies: []networkingv1.NetworkPolicy{block("0.0.0.0/0")},
			src: &Endpoint{Namespace: "shop", Labels: web.Labels}, want: "none"},
		{name: "default deny egress", policies: []networkingv1.NetworkPolicy{np("shop", all, egress, nil, nil)}, want: "none"},
		{name: "egress rules isolate without policyTypes", policies: []networkingv1.NetworkPolicy{np("shop", all, nil, nil, toPay8080)}, want: "TCP 8080"},
		{name: "egress rules ignored when policyTypes says Ingress",
			policies: []networkingv1.NetworkPolicy{np("shop", all, ingress, []networkingv1.NetworkPolicyIngressRule{{}}, toPay8080)}, want: "all"},
		{name: "both directions, egress rules missing", policies: []networkingv1.NetworkPolicy{np("shop", all, both, []networkingv1.NetworkPolicyIngressRule{{}}, nil)}, want: "none"},
		{name: "egress and ingress intersect",
			policies: []networkingv1.NetworkPolicy{np("shop", all, egress, nil, toPay8080), withPorts(port(tcp, intstr.FromInt32(8000), 9000))}, want: "TCP 8080"},
		{name: "egress named port resolves on the destination",
			policies: []networkingv1.NetworkPolicy{np("shop", all, egress, nil, []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{port(tcp, intstr.FromString("http"), 0)}}})},
			want:     "TCP 8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := web, api
			if tc.src != nil {
				src = *tc.src
			}
			if tc.dst != nil {
				dst = *tc.dst
			}
			got := NewPolicies(tc.policies, nsLabels).Allowed(src, dst)
			if got.String() != tc.want {
				t.Errorf("allowed %s, want %s", got, tc.want)
			}
		})
	}
}

// withPorts admits shop to every pod of pay on ports.
func withPorts(ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicy {
	return np("pay", all, ingress, []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{shopNS}, Ports: ports}}, nil)
}

func block(cidr string, except ...string) networkingv1.NetworkPolicy {
	return np("pay", all, ingress, from(networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}), nil)
}

func ptr[T any](v T) *T { return &v }

func TestIsolated(t *testing.T) {
	ps := NewPolicies([]networkingv1.NetworkPolicy{np("pay", *sel("app", "api"), nil, nil, toPay8080)}, nsLabels)
	if !ps.Isolated(api, true) || !ps.Isolated(api, false) {
		t.Error("api: a policy with egress rules and no policyTypes isolates both directions")
	}
	if ps.Isolated(web, true) || ps.Isolated(web, false) {
		t.Error("web: no policy of its namespace selects it")
	}
}

func TestReachability(t *testing.T) {
	db := Endpoint{Namespace: "pay", Labels: map[string]string{"app": "db"}}
	policies := []networkingv1.NetworkPolicy{
		np("pay", *sel("app", "db"), ingress, from(networkingv1.NetworkPolicyPeer{PodSelector: sel("app", "api")}), nil),
		np("shop", all, ingress, nil, nil),
	}
	m := Reachability(NewPolicies(policies, nsLabels), []Endpoint{web, web, api, db})
	want := map[[2]string]Cell{
		{"shop", "shop"}: {Reach: ReachNone},
		{"shop", "pay"}:  {Reach: ReachSome, Ports: "all"},
		{"pay", "pay"}:   {Reach: ReachSome, Ports: "all"},
		{"pay", "shop"}:  {Reach: ReachNone},
	}
	if len(m.Namespaces) != 2 {
		t.Fatalf("namespaces %v", m.Namespaces)
	}
	for k, w := range want {
		if got, _ := m.At(k[0], k[1]); got != w {
			t.Errorf("%s → %s: %+v, want %+v", k[0], k[1], got, w)
		}
	}
	open := Reachability(NewPolicies(nil, nsLabels), []Endpoint{web, api})
	if c, _ := open.At("shop", "pay"); c.Reach != ReachAll {
		t.Errorf("without policies: %+v", c)
	}
}

func TestPortSet(t *testing.T) {
	var a, b PortSet
	a.add(tcp, 80, 90)
	a.add(tcp, 91, 100) // adjacent: joined
	a.add(udp, 53, 53)
	b.add(tcp, 95, 200)
	if got := a.String(); got != "TCP 80-100; UDP 53" {
		t.Errorf("a = %s", got)
	}
	if got := a.Intersect(b).String(); got != "TCP 95-100" {
		t.Errorf("a ∩ b = %s", got)
	}
	if got := a.Union(b).String(); got != "TCP 80-200; UDP 53" {
		t.Errorf("a ∪ b = %s", got)
	}
	if !a.Has(udp, 53) || a.Has(udp, 54) || !AllPorts().Full() || !(PortSet{}).Empty() || AllPorts().Intersect(a).String() != a.String() {
		t.Error("Has, Full, Empty or Intersect with every port is wrong")
	}
}
