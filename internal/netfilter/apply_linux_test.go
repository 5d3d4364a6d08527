package netfilter_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/hopseal/hopseal/internal/netfilter"
	"github.com/hopseal/hopseal/internal/testenv"
)

// in runs fn inside pod and fails the test on error.
func in(t *testing.T, pod *testenv.Pod, fn func() error) {
	t.Helper()
	if err := pod.Do(fn); err != nil {
		t.Fatalf("in pod %s: %v", pod.Name, err)
	}
}

func installed(t *testing.T, pod *testenv.Pod) *netfilter.Ruleset {
	t.Helper()
	var rs *netfilter.Ruleset
	in(t, pod, func() (err error) { rs, err = netfilter.Installed(); return err })
	return rs
}

func requireInstalled(t *testing.T, pod *testenv.Pod, want *netfilter.Ruleset) {
	t.Helper()
	got := installed(t, pod)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("installed ruleset differs from the plan\ninstalled:\n%v\nplanned:\n%v", got, want)
	}
}

func withExcludes() netfilter.Rules {
	r := netfilter.Default()
	r.ExcludeInboundPorts = []uint16{14090, 22}
	r.ExcludeOutboundPorts = []uint16{53}
	r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00:ec2::254/128"), netip.MustParsePrefix("fc00::/7")}
	return r
}

func TestApplyInstallsExactlyThePlan(t *testing.T) {
	pod := testenv.NewNet(t, testenv.NetConfig{}).AddPod(t, "rules")
	if rs := installed(t, pod); rs != nil {
		t.Fatalf("a fresh namespace already has:\n%v", rs)
	}
	steps := []struct {
		name  string
		rules netfilter.Rules
	}{
		{"defaults", netfilter.Default()},
		{"defaults again (idempotent)", netfilter.Default()},
		{"replaced by other rules", withExcludes()},
		{"other rules again", withExcludes()},
		{"back to defaults", netfilter.Default()},
	}
	for _, s := range steps {
		in(t, pod, func() error { return netfilter.Apply(s.rules) })
		requireInstalled(t, pod, netfilter.Plan(s.rules))
	}
	for range 2 { // removing twice is not an error
		in(t, pod, netfilter.Remove)
		if rs := installed(t, pod); rs != nil {
			t.Fatalf("after Remove:\n%v", rs)
		}
	}
}

func TestApplyRejectsInvalidRulesAndKeepsTheOldOnes(t *testing.T) {
	pod := testenv.NewNet(t, testenv.NetConfig{}).AddPod(t, "invalid")
	in(t, pod, func() error { return netfilter.Apply(netfilter.Default()) })
	bad := netfilter.Default()
	bad.ProxyUID = 0
	err := pod.Do(func() error { return netfilter.Apply(bad) })
	if err == nil || !strings.Contains(err.Error(), "--proxy-uid") {
		t.Fatalf("Apply with UID 0: %v, want an error naming --proxy-uid", err)
	}
	requireInstalled(t, pod, netfilter.Plan(netfilter.Default()))
}

func TestApplyAndRemoveLeaveOtherTablesAlone(t *testing.T) {
	pod := testenv.NewNet(t, testenv.NetConfig{}).AddPod(t, "others")
	other := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "cni"}
	same := &nftables.Table{Family: nftables.TableFamilyIPv6, Name: netfilter.TableName} // same name, other family
	in(t, pod, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		for _, tbl := range []*nftables.Table{other, same} {
			c.AddTable(tbl)
			ch := c.AddChain(&nftables.Chain{Name: "forward", Table: tbl, Type: nftables.ChainTypeFilter,
				Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
			c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}})
		}
		return c.Flush()
	})
	in(t, pod, func() error { return netfilter.Apply(netfilter.Default()) })
	in(t, pod, func() error { return netfilter.Apply(withExcludes()) })
	in(t, pod, netfilter.Remove)
	in(t, pod, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		for _, tbl := range []*nftables.Table{other, same} {
			rules, err := c.GetRules(tbl, &nftables.Chain{Name: "forward"})
			if err != nil || len(rules) != 1 {
				t.Errorf("table %d %s: %d rules (%v), want its 1 rule untouched", tbl.Family, tbl.Name, len(rules), err)
			}
		}
		return nil
	})
}
