package netfilter

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

var hookNames = map[nftables.ChainHook]string{
	*nftables.ChainHookPrerouting: chainPrerouting,
	*nftables.ChainHookOutput:     chainOutput,
}

// Installed reads hopseal's table back from the current network namespace:
// nil if there is none, an error if it holds anything hopseal would not
// have written. Compare it with Plan to check the rules are in place.
func Installed() (*Ruleset, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("netfilter: open netlink: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, explain("list tables", err)
	}
	var t *nftables.Table
	for _, tt := range tables {
		if tt.Name == TableName {
			t = tt
		}
	}
	if t == nil {
		return nil, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, explain("list chains", err)
	}
	rs := &Ruleset{Family: TableFamily, Table: TableName}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != TableName {
			continue
		}
		chain, err := readChain(c, t, ch)
		if err != nil {
			return nil, fmt.Errorf("netfilter: table %s %s: chain %s: %w", TableFamily, TableName, ch.Name, err)
		}
		rs.Chains = append(rs.Chains, chain)
	}
	return rs, nil
}

func readChain(c *nftables.Conn, t *nftables.Table, ch *nftables.Chain) (Chain, error) {
	if ch.Hooknum == nil || ch.Priority == nil || ch.Type != nftables.ChainTypeNAT {
		return Chain{}, fmt.Errorf("not a nat base chain (type %q)", ch.Type)
	}
	hook, ok := hookNames[*ch.Hooknum]
	if !ok {
		return Chain{}, fmt.Errorf("hook %d is neither prerouting nor output", *ch.Hooknum)
	}
	if ch.Policy == nil || *ch.Policy != nftables.ChainPolicyAccept {
		return Chain{}, fmt.Errorf("policy is not accept")
	}
	out := Chain{Name: ch.Name, Hook: hook, Priority: int32(*ch.Priority)}
	rules, err := c.GetRules(t, ch)
	if err != nil {
		return Chain{}, explain("list rules", err)
	}
	for i, r := range rules {
		rule, err := decodeRule(r.Exprs)
		if err != nil {
			return Chain{}, fmt.Errorf("rule %d: %w", i+1, err)
		}
		rule.Comment, _ = userdata.GetString(r.UserData, userdata.TypeComment)
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}
