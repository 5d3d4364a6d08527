package cluster

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/audit"
)

// Rules of the NetworkPolicy checks.
const (
	RuleNoDefaultDenyIngress = "cluster/no-default-deny-ingress"
	RuleNoDefaultDenyEgress  = "cluster/no-default-deny-egress"
	RuleEgressWithoutDNS     = "cluster/egress-deny-without-dns"
	RuleAllowAll             = "cluster/netpol-allow-all"
)

var netpolControls = []audit.Control{audit.NISTAC4, audit.NISTSC7, audit.PCI131}

// networkPods are the pods NetworkPolicies apply to: not on the host's
// network.
func networkPods(v *view, ns string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range v.podsIn(ns) {
		if !p.Spec.HostNetwork {
			out = append(out, p)
		}
	}
	return out
}

// posture checks each namespace with pods for default-deny policies and
// DNS, and every policy for rules that allow everything.
func posture(v *view) []audit.Finding {
	var out []audit.Finding
	for _, ns := range v.scannedNamespaces() {
		pods := networkPods(v, ns)
		if v.systemNamespace(ns) || len(pods) == 0 {
			continue
		}
		for _, ingress := range []bool{true, false} {
			if f, ok := defaultDenyFinding(v, ns, pods, ingress); ok {
				out = append(out, f)
			}
		}
		if f, ok := dnsFinding(v, ns, pods); ok {
			out = append(out, f)
		}
	}
	for i := range v.s.NetworkPolicies {
		out = append(out, allowAll(&v.s.NetworkPolicies[i])...)
	}
	return out
}

// defaultDeny: a policy of ns selects every pod and isolates them for the
// direction.
func defaultDeny(v *view, ns string, ingress bool) bool {
	for i := range v.s.NetworkPolicies {
		np := &v.s.NetworkPolicies[i]
		in, eg := policyTypes(np)
		if np.Namespace == ns && emptySelector(&np.Spec.PodSelector) && (ingress && in || !ingress && eg) {
			return true
		}
	}
	return false
}

func emptySelector(s *metav1.LabelSelector) bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

func defaultDenyFinding(v *view, ns string, pods []*corev1.Pod, ingress bool) (audit.Finding, bool) {
	if defaultDeny(v, ns, ingress) {
		return audit.Finding{}, false
	}
	rule, dir, types := RuleNoDefaultDenyIngress, "ingress", "Ingress"
	if !ingress {
		rule, dir, types = RuleNoDefaultDenyEgress, "egress", "Egress"
	}
	var open []*corev1.Pod
	for _, p := range pods {
		if !v.policies.Isolated(endpoint(p), ingress) {
			open = append(open, p)
		}
	}
	sev, ev := audit.Medium, fmt.Sprintf("%d of %s admit any %s: %s", len(open), plural(len(pods), "pod"), dir, names(open))
	if len(open) == 0 {
		sev, ev = audit.Low, fmt.Sprintf("every pod is isolated for %s by a policy that selects it, but new pods with other labels will not be", dir)
	}
	return finding(rule, sev, fmt.Sprintf("%s: no default-deny %s NetworkPolicy", ns, dir), subject("Namespace", "", ns), netpolControls,
		fmt.Sprintf("add a NetworkPolicy with podSelector: {} and policyTypes: [%s] and no %s rules, then allow what each workload needs", types, dir),
		ev), true
}

// dnsEndpoints are the kube-dns pods, or what CoreDNS's usual labels and
// ports describe when none were read.
func dnsEndpoints(v *view) []Endpoint {
	var out []Endpoint
	for i := range v.s.DNSPods {
		if p := &v.s.DNSPods[i]; active(p) {
			out = append(out, endpoint(p))
		}
	}
	if len(out) == 0 {
		out = append(out, Endpoint{Namespace: metav1.NamespaceSystem, Labels: map[string]string{"k8s-app": "kube-dns"},
			Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}}})
	}
	return out
}

// dnsFinding: pods isolated for egress that may not reach kube-dns on port
// 53. Without UDP, names do not resolve; without TCP, large answers fail.
func dnsFinding(v *view, ns string, pods []*corev1.Pod) (audit.Finding, bool) {
	dns := dnsEndpoints(v)
	var noUDP, noTCP []*corev1.Pod
	for _, p := range pods {
		src := endpoint(p)
		if !v.policies.Isolated(src, false) {
			continue
		}
		udp, tcp := false, false
		for _, d := range dns {
			allowed := v.policies.Egress(src, d)
			udp = udp || allowed.Has(corev1.ProtocolUDP, 53)
			tcp = tcp || allowed.Has(corev1.ProtocolTCP, 53)
		}
		if !udp {
			noUDP = append(noUDP, p)
		} else if !tcp {
			noTCP = append(noTCP, p)
		}
	}
	fix := "allow egress to kube-dns: to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: UDP 53 and TCP 53"
	switch {
	case len(noUDP) > 0:
		return finding(RuleEgressWithoutDNS, audit.Low, ns+": egress is denied without a DNS allowance", subject("Namespace", "", ns), netpolControls, fix,
			"may not reach kube-dns on UDP 53: "+names(noUDP)), true
	case len(noTCP) > 0:
		return finding(RuleEgressWithoutDNS, audit.Info, ns+": egress allows DNS over UDP only", subject("Namespace", "", ns), netpolControls, fix,
			"may not reach kube-dns on TCP 53, so answers over 512 bytes fail: "+names(noTCP)), true
	}
	return audit.Finding{}, false
}

// allowAll finds rules of np that admit every source (or reach every
// destination) on every port.
func allowAll(np *networkingv1.NetworkPolicy) []audit.Finding {
	var ev []string
	for i, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			if who := everyone(r.From); who != "" {
				ev = append(ev, fmt.Sprintf("spec.ingress[%d] admits %s on every port", i, who))
			}
		}
	}
	for i, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			if who := everyone(r.To); who != "" {
				ev = append(ev, fmt.Sprintf("spec.egress[%d] reaches %s on every port", i, who))
			}
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return []audit.Finding{finding(RuleAllowAll, audit.Medium, fmt.Sprintf("%s/%s: NetworkPolicy allows everything", np.Namespace, np.Name),
		subject("NetworkPolicy", np.Namespace, np.Name), netpolControls,
		"list the peers and ports each workload needs instead; a rule with no peers and no ports is allow-all", ev...)}
}

// everyone says which "everything" peers match, or "" when they are
// narrower.
func everyone(peers []networkingv1.NetworkPolicyPeer) string {
	if len(peers) == 0 {
		return "every source and destination (no peers listed)"
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil && (p.IPBlock.CIDR == "0.0.0.0/0" || p.IPBlock.CIDR == "::/0") && len(p.IPBlock.Except) == 0:
			return "every address (ipBlock " + p.IPBlock.CIDR + ")"
		case p.NamespaceSelector != nil && emptySelector(p.NamespaceSelector) && (p.PodSelector == nil || emptySelector(p.PodSelector)):
			return "every pod of every namespace (namespaceSelector: {})"
		}
	}
	return ""
}
