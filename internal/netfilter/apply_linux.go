package netfilter

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

var hooks = map[string]*nftables.ChainHook{
	chainPrerouting: nftables.ChainHookPrerouting,
	chainOutput:     nftables.ChainHookOutput,
}

// Apply validates r and replaces hopseal's table in the current network
// namespace with Plan(r), in one netlink batch: the kernel commits the
// batch as a single transaction, so there is never a moment without rules,
// and re-running Apply is idempotent. Other tables are never touched.
func Apply(r Rules) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("netfilter: %w", err)
	}
	return install(Plan(r))
}

func install(rs *Ruleset) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("netfilter: open netlink: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: rs.Table}
	// Add-then-delete empties the table whether or not it existed, without
	// an error, inside the same transaction that rebuilds it.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	for _, ch := range rs.Chains {
		hook, ok := hooks[ch.Hook]
		if !ok {
			return fmt.Errorf("netfilter: chain %s: unknown hook %q", ch.Name, ch.Hook)
		}
		nc := c.AddChain(&nftables.Chain{Name: ch.Name, Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: hook, Priority: nftables.ChainPriorityRef(nftables.ChainPriority(ch.Priority)), Policy: &policy})
		for _, r := range ch.Rules {
			c.AddRule(&nftables.Rule{Table: t, Chain: nc, Exprs: r.exprs(), UserData: comment(r.Comment)})
		}
	}
	if err := c.Flush(); err != nil {
		return explain("install table "+TableFamily+" "+rs.Table, err)
	}
	return nil
}

// Remove deletes hopseal's table from the current network namespace, and
// with it every hopseal rule; it is not an error if there is none.
func Remove() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("netfilter: open netlink: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return explain("remove table "+TableFamily+" "+TableName, err)
	}
	return nil
}

func comment(s string) []byte {
	if s == "" {
		return nil
	}
	return userdata.AppendString(nil, userdata.TypeComment, s)
}

// explain turns the kernel's terse errors into what to do about them.
func explain(op string, err error) error {
	switch {
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("netfilter: %s: %w: changing nftables needs CAP_NET_ADMIN in this network namespace; "+
			"run as root, or give the init container the NET_ADMIN capability", op, err)
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EPROTONOSUPPORT):
		return fmt.Errorf("netfilter: %s: %w: the kernel lacks nftables NAT for the inet family "+
			"(needs Linux 5.2 or later with nf_tables, nft_nat and nft_redir)", op, err)
	}
	return fmt.Errorf("netfilter: %s: %w", op, err)
}
