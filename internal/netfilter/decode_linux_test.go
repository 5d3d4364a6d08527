package netfilter

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
)

func TestRulesRoundTrip(t *testing.T) {
	p := netip.MustParsePrefix
	rules := []Rule{
		{Matches: []Match{TCP{}}, Verdict: Redirect(14006)},
		{Matches: []Match{SkUID(1443)}, Verdict: Return{}},
		{Matches: []Match{SkUID(0xfffffffe)}, Verdict: Return{}},
		{Matches: []Match{OIFName("lo")}, Verdict: Return{}},
		{Matches: []Match{IIFName("a-fifteen-chars")}, Verdict: Return{}},
		{Matches: []Match{DPort(1)}, Verdict: Return{}},
		{Matches: []Match{DPort(65535)}, Verdict: Redirect(1)},
		{Matches: []Match{DAddr(p("127.0.0.0/8"))}, Verdict: Return{}},
		{Matches: []Match{DAddr(p("100.64.0.0/10"))}, Verdict: Return{}},
		{Matches: []Match{DAddr(p("169.254.169.254/32"))}, Verdict: Return{}},
		{Matches: []Match{DAddr(p("::1/128"))}, Verdict: Return{}},
		{Matches: []Match{DAddr(p("fc00::/7"))}, Verdict: Return{}},
		{Matches: []Match{DAddr(p("2001:db8::/32"))}, Verdict: Return{}},
		{Matches: []Match{DAddr(p("2001:db8::/127"))}, Verdict: Return{}},
		{Matches: []Match{SkUID(7), DPort(80), DAddr(p("10.0.0.0/8"))}, Verdict: Redirect(8080)},
	}
	for _, r := range rules {
		got, err := decodeRule(r.exprs())
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("%q decodes to %q, %v", r, got, err)
		}
	}
}

// decodeRule accepts only what hopseal writes: anything else in the table
// makes Installed fail instead of passing for the plan.
func TestDecodeRejectsForeignRules(t *testing.T) {
	base := Rule{Matches: []Match{DPort(22)}, Verdict: Return{}}.exprs()
	change := func(f func([]expr.Any) []expr.Any) []expr.Any { // f edits a fresh copy of base
		return f(Rule{Matches: []Match{DPort(22)}, Verdict: Return{}}.exprs())
	}
	cases := []struct {
		name  string
		exprs []expr.Any
		want  string
	}{
		{"no verdict", base[:len(base)-1], "no verdict"},
		{"accept instead of return", change(func(e []expr.Any) []expr.Any {
			e[len(e)-1] = &expr.Verdict{Kind: expr.VerdictAccept}
			return e
		}), "not one hopseal writes"},
		{"not equal instead of equal", change(func(e []expr.Any) []expr.Any {
			e[3].(*expr.Cmp).Op = expr.CmpOpNeq
			return e
		}), "do not encode"},
		{"source port instead of destination", change(func(e []expr.Any) []expr.Any {
			e[2].(*expr.Payload).Offset = 0
			return e
		}), "do not encode"},
		{"UDP instead of TCP", change(func(e []expr.Any) []expr.Any {
			e[1].(*expr.Cmp).Data = []byte{17}
			return e
		}), "do not encode"},
		{"a counter", append([]expr.Any{&expr.Counter{}}, base...), "not one hopseal writes"},
		{"after the verdict", append(append([]expr.Any{}, base...), &expr.Counter{}), "after the verdict"},
		{"redirect to a port range", []expr.Any{
			&expr.Immediate{Register: 1, Data: []byte{0, 80}},
			&expr.Redir{RegisterProtoMin: 1, RegisterProtoMax: 2, Flags: 2},
		}, "not one hopseal writes"},
		{"masked address that is not a prefix", func() []expr.Any {
			e := Rule{Matches: []Match{DAddr(netip.MustParsePrefix("10.0.0.0/7"))}, Verdict: Return{}}.exprs()
			e[3].(*expr.Bitwise).Mask = []byte{0xfe, 0, 0xff, 0}
			return e
		}(), "do not encode"},
	}
	for _, tc := range cases {
		_, err := decodeRule(tc.exprs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: decodeRule error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
