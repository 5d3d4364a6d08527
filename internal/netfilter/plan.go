package netfilter

import (
	"cmp"
	"net/netip"
	"slices"
)

// Chain hooks and priorities: both chains run at -100, where the kernel's
// own DNAT runs, after conntrack (-200) so only a connection's first packet
// is evaluated and the rest follow its NAT binding.
const (
	chainPrerouting = "prerouting"
	chainOutput     = "output"
	natPriority     = -100
)

// The loopback destinations, never redirected.
var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.MustParsePrefix("::1/128")
)

// Plan is the exact ruleset Apply installs for r: pure and deterministic
// (excluded ports and networks are sorted and deduplicated). See the package
// documentation for what each rule is for. Plan does not validate r.
func Plan(r Rules) *Ruleset {
	return &Ruleset{
		Family: TableFamily,
		Table:  TableName,
		Chains: []Chain{
			{Name: chainPrerouting, Hook: chainPrerouting, Priority: natPriority, Rules: inbound(r)},
			{Name: chainOutput, Hook: chainOutput, Priority: natPriority, Rules: outbound(r)},
		},
	}
}

// inbound: TCP arriving from outside the pod goes to the inbound proxy.
func inbound(r Rules) []Rule {
	rules := []Rule{
		{Matches: []Match{IIFName("lo")}, Verdict: Return{}, Comment: "hopseal: from this pod itself, decided in output"},
		{Matches: []Match{DPort(r.InboundPort)}, Verdict: Return{}, Comment: "hopseal: already for the inbound proxy"},
		{Matches: []Match{DPort(r.OutboundPort)}, Verdict: Return{}, Comment: "hopseal: the outbound proxy is not for peers"},
	}
	for _, p := range sortedPorts(r.ExcludeInboundPorts) {
		rules = append(rules, Rule{Matches: []Match{DPort(p)}, Verdict: Return{}, Comment: "hopseal: excluded inbound port"})
	}
	return append(rules, Rule{Matches: []Match{TCP{}}, Verdict: Redirect(r.InboundPort), Comment: "hopseal: to the inbound proxy"})
}

// outbound: TCP the pod's apps open goes to the outbound proxy, except the
// proxy's own connections and traffic that never leaves the pod.
func outbound(r Rules) []Rule {
	rules := []Rule{
		{Matches: []Match{SkUID(r.ProxyUID)}, Verdict: Return{}, Comment: "hopseal: the proxy's own connections"},
		{Matches: []Match{OIFName("lo")}, Verdict: Return{}, Comment: "hopseal: stays inside the pod"},
		{Matches: []Match{DAddr(loopback4)}, Verdict: Return{}, Comment: "hopseal: loopback"},
		{Matches: []Match{DAddr(loopback6)}, Verdict: Return{}, Comment: "hopseal: loopback"},
	}
	for _, p := range sortedPorts(r.ExcludeOutboundPorts) {
		rules = append(rules, Rule{Matches: []Match{DPort(p)}, Verdict: Return{}, Comment: "hopseal: excluded outbound port"})
	}
	for _, p := range sortedPrefixes(r.ExcludeOutboundCIDRs) {
		rules = append(rules, Rule{Matches: []Match{DAddr(p)}, Verdict: Return{}, Comment: "hopseal: excluded outbound network"})
	}
	return append(rules, Rule{Matches: []Match{TCP{}}, Verdict: Redirect(r.OutboundPort), Comment: "hopseal: to the outbound proxy"})
}

func sortedPorts(ports []uint16) []uint16 {
	return slices.Compact(slices.Sorted(slices.Values(ports)))
}

// sortedPrefixes puts IPv4 before IPv6, then orders by address and length.
func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	return slices.Compact(out)
}
