package netfilter

import (
	"reflect"
	"testing"
)

// FuzzParseLists: whatever the flags hold, parsing never panics, and what
// it accepts and Validate passes compiles to rules that decode to the same.
func FuzzParseLists(f *testing.F) {
	for _, s := range []string{"14090,22", "10.0.0.0/8,fd00::/8", "169.254.169.254", " ,1, ", "::ffff:1.2.3.4/128", "0.0.0.0/0"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, ports, cidrs string) {
		r := Default()
		var err error
		if r.ExcludeOutboundPorts, err = ParsePorts(ports); err != nil {
			return
		}
		if r.ExcludeOutboundCIDRs, err = ParsePrefixes(cidrs); err != nil {
			return
		}
		if r.Validate() != nil {
			return
		}
		for _, ch := range Plan(r).Chains {
			for _, rule := range ch.Rules {
				got, err := decodeRule(rule.exprs())
				got.Comment = rule.Comment
				if err != nil || !reflect.DeepEqual(got, rule) {
					t.Fatalf("rule %q decodes to %q (%v)", rule, got, err)
				}
			}
		}
	})
}
