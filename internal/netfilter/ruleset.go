package netfilter

import (
	"fmt"
	"net/netip"
	"strings"
)

// hopseal owns exactly one table, in the inet family so one set of chains
// covers IPv4 and IPv6. Nothing outside it is ever read or changed.
const (
	TableFamily = "inet"
	TableName   = "hopseal"
)

// Ruleset is hopseal's whole footprint in a network namespace: one table
// and its chains. Plan builds one; Installed reads one back from the kernel.
// Two rulesets are the same when reflect.DeepEqual says so.
type Ruleset struct {
	Family string // always TableFamily
	Table  string // always TableName
	Chains []Chain
}

// Chain is a base chain of type nat. Its policy is always accept: packets
// no rule redirects go on untouched.
type Chain struct {
	Name     string
	Hook     string // "prerouting" or "output"
	Priority int32
	Rules    []Rule
}

// Rule applies Verdict to a new connection when every match holds.
type Rule struct {
	Matches []Match
	Verdict Verdict
	Comment string // kept in the kernel, shown by `nft list ruleset`
}

// Match is one condition of a rule.
type Match interface{ nft() string }

// Verdict is what a rule does to a connection it matches.
type Verdict interface{ nft() string }

// Matches.
type (
	TCP     struct{}     // meta l4proto tcp
	SkUID   uint32       // meta skuid N: the sending socket's owner
	OIFName string       // oifname "lo": the route's output interface
	IIFName string       // iifname "lo": the input interface
	DAddr   netip.Prefix // ip daddr / ip6 daddr
	DPort   uint16       // tcp dport N (implies TCP)
)

// Verdicts.
type (
	Return   struct{} // leave the connection alone
	Redirect uint16   // send it to this port on the local host
)

func (TCP) nft() string        { return "meta l4proto tcp" }
func (u SkUID) nft() string    { return fmt.Sprintf("meta skuid %d", uint32(u)) }
func (n OIFName) nft() string  { return fmt.Sprintf("oifname %q", string(n)) }
func (n IIFName) nft() string  { return fmt.Sprintf("iifname %q", string(n)) }
func (p DPort) nft() string    { return fmt.Sprintf("tcp dport %d", uint16(p)) }
func (Return) nft() string     { return "return" }
func (p Redirect) nft() string { return fmt.Sprintf("redirect to :%d", uint16(p)) }

func (d DAddr) nft() string {
	p := netip.Prefix(d)
	family := "ip"
	if p.Addr().Is6() {
		family = "ip6"
	}
	if p.IsSingleIP() {
		return fmt.Sprintf("%s daddr %s", family, p.Addr())
	}
	return fmt.Sprintf("%s daddr %s", family, p)
}

// String renders the ruleset in nft syntax: what `--dry-run` prints and
// `nft -f` accepts.
func (rs *Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", rs.Family, rs.Table)
	for i, c := range rs.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		fmt.Fprintf(&b, "\t\ttype nat hook %s priority %s; policy accept;\n", c.Hook, priorityName(c.Hook, c.Priority))
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (r Rule) String() string {
	parts := make([]string, 0, len(r.Matches)+2)
	for _, m := range r.Matches {
		parts = append(parts, m.nft())
	}
	if r.Verdict != nil {
		parts = append(parts, r.Verdict.nft())
	}
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(parts, " ")
}

// priorityName uses nft's keyword where nft accepts one for the hook
// (dstnat is defined for prerouting only).
func priorityName(hook string, prio int32) string {
	if hook == "prerouting" && prio == -100 {
		return "dstnat"
	}
	return fmt.Sprint(prio)
}
