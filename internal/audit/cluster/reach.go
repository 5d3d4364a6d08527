package cluster

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Endpoint is a pod as NetworkPolicies see it.
type Endpoint struct {
	Namespace string
	Labels    map[string]string
	IP        netip.Addr             // zero when unknown: no ipBlock matches it
	Ports     []corev1.ContainerPort // declared ports, which named policy ports refer to
}

// Policies evaluates NetworkPolicies with the semantics of the Kubernetes
// API (networking.k8s.io/v1):
//   - a pod is isolated for a direction when a policy of its namespace
//     selects it and lists that direction in policyTypes (default: Ingress,
//     plus Egress when the policy has egress rules); an isolated pod admits
//     only what some selecting policy's rules allow, others admit anything;
//   - a connection needs the source's egress and the destination's ingress;
//   - a rule without peers matches every peer, without ports every port;
//   - a peer is podSelector (the policy's namespace), namespaceSelector
//     (with podSelector: both must match) or ipBlock minus its except;
//     ipBlock matches pod IPs too, as most network plugins do;
//   - a port is a number, a range (port..endPort) or a name resolved
//     against the destination pod's container ports; protocol defaults to
//     TCP; a port without a number is every port of its protocol.
//
// A selector that cannot be parsed matches nothing.
type Policies struct {
	list     []compiledPolicy
	nsLabels map[string]map[string]string
}

type compiledPolicy struct {
	namespace       string
	pods            labels.Selector
	ingress, egress bool
	in, out         []compiledRule
}

type compiledRule struct {
	peers []compiledPeer // empty: every peer
	ports []networkingv1.NetworkPolicyPort
}

type compiledPeer struct {
	namespaces labels.Selector // nil: the policy's own namespace
	pods       labels.Selector
	block      *networkingv1.IPBlock
}

// NewPolicies compiles policies; namespaceLabels are the labels of every
// namespace, by name.
func NewPolicies(policies []networkingv1.NetworkPolicy, namespaceLabels map[string]map[string]string) *Policies {
	ps := &Policies{nsLabels: namespaceLabels}
	for i := range policies {
		ps.list = append(ps.list, compile(&policies[i]))
	}
	return ps
}

func compile(np *networkingv1.NetworkPolicy) compiledPolicy {
	c := compiledPolicy{namespace: np.Namespace, pods: selector(&np.Spec.PodSelector)}
	c.ingress, c.egress = policyTypes(np)
	for _, r := range np.Spec.Ingress {
		c.in = append(c.in, compiledRule{peers: compilePeers(r.From), ports: r.Ports})
	}
	for _, r := range np.Spec.Egress {
		c.out = append(c.out, compiledRule{peers: compilePeers(r.To), ports: r.Ports})
	}
	return c
}

// policyTypes are the directions np isolates, with the API's defaults.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

func compilePeers(peers []networkingv1.NetworkPolicyPeer) []compiledPeer {
	out := make([]compiledPeer, 0, len(peers))
	for _, p := range peers {
		c := compiledPeer{block: p.IPBlock, pods: labels.Everything()}
		if p.IPBlock == nil {
			if p.NamespaceSelector == nil && p.PodSelector == nil {
				c.pods = labels.Nothing() // refused by the API server; never matches
			}
			if p.NamespaceSelector != nil {
				c.namespaces = selector(p.NamespaceSelector)
			}
			if p.PodSelector != nil {
				c.pods = selector(p.PodSelector)
			}
		}
		out = append(out, c)
	}
	return out
}

// selector converts s; one that cannot be read matches nothing.
func selector(s *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// Allowed is every port src may open on dst.
func (ps *Policies) Allowed(src, dst Endpoint) PortSet {
	return ps.Egress(src, dst).Intersect(ps.Ingress(src, dst))
}

// Ingress is every port dst's ingress admits from src.
func (ps *Policies) Ingress(src, dst Endpoint) PortSet {
	return ps.side(dst, src, dst, true)
}

// Egress is every port src's egress allows to dst.
func (ps *Policies) Egress(src, dst Endpoint) PortSet {
	return ps.side(src, dst, dst, false)
}

// side evaluates the policies of self (the pod they select) for a
// connection with peer; ports are resolved against dst.
func (ps *Policies) side(self, peer, dst Endpoint, ingress bool) PortSet {
	isolated := false
	var allowed PortSet
	for i := range ps.list {
		p := &ps.list[i]
		if p.namespace != self.Namespace || !p.pods.Matches(labels.Set(self.Labels)) {
			continue
		}
		rules := p.out
		if ingress {
			if !p.ingress {
				continue
			}
			rules = p.in
		} else if !p.egress {
			continue
		}
		isolated = true
		for _, r := range rules {
			if ps.matchesAny(r.peers, p.namespace, peer) {
				allowed = allowed.Union(portsOf(r.ports, dst))
			}
		}
	}
	if !isolated {
		return AllPorts()
	}
	return allowed
}

// Isolated reports whether a policy isolates e for ingress (or egress).
func (ps *Policies) Isolated(e Endpoint, ingress bool) bool {
	for i := range ps.list {
		p := &ps.list[i]
		if p.namespace == e.Namespace && p.pods.Matches(labels.Set(e.Labels)) && (ingress && p.ingress || !ingress && p.egress) {
			return true
		}
	}
	return false
}

func (ps *Policies) matchesAny(peers []compiledPeer, policyNS string, e Endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if ps.matches(p, policyNS, e) {
			return true
		}
	}
	return false
}

func (ps *Policies) matches(p compiledPeer, policyNS string, e Endpoint) bool {
	if p.block != nil {
		return inBlock(p.block, e.IP)
	}
	if p.namespaces == nil {
		if e.Namespace != policyNS {
			return false
		}
	} else if !p.namespaces.Matches(labels.Set(ps.namespaceLabels(e.Namespace))) {
		return false
	}
	return p.pods.Matches(labels.Set(e.Labels))
}

// namespaceLabels has the label the API server sets on every namespace even
// when the caller's map lacks it.
func (ps *Policies) namespaceLabels(ns string) map[string]string {
	l := map[string]string{corev1.LabelMetadataName: ns}
	for k, v := range ps.nsLabels[ns] {
		l[k] = v
	}
	return l
}

func inBlock(b *networkingv1.IPBlock, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !cidr.Contains(ip) {
		return false
	}
	for _, ex := range b.Except {
		if e, err := netip.ParsePrefix(ex); err == nil && e.Contains(ip) {
			return false
		}
	}
	return true
}

// portsOf is what a rule's ports allow on dst.
func portsOf(ports []networkingv1.NetworkPolicyPort, dst Endpoint) PortSet {
	if len(ports) == 0 {
		return AllPorts()
	}
	var s PortSet
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		switch {
		case p.Port == nil:
			s.add(proto, 1, 65535)
		case p.Port.Type == intstr.Int:
			hi := p.Port.IntVal
			if p.EndPort != nil {
				hi = *p.EndPort
			}
			s.add(proto, p.Port.IntVal, hi)
		default:
			if n, ok := namedPort(dst.Ports, p.Port.StrVal, proto); ok {
				s.add(proto, n, n)
			}
		}
	}
	return s
}

func namedPort(ports []corev1.ContainerPort, name string, proto corev1.Protocol) (int32, bool) {
	for _, cp := range ports {
		pp := cp.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if cp.Name == name && pp == proto {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}
