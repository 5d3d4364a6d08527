package netfilter

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current Plan")

func TestPlanGolden(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		name   string
		change func(*Rules)
	}{
		{"default", func(*Rules) {}},
		{"other-ports-and-uid", func(r *Rules) { r.InboundPort, r.OutboundPort, r.ProxyUID = 15006, 15001, 2001 }},
		{"excluded-inbound-ports", func(r *Rules) { r.ExcludeInboundPorts = []uint16{14090, 22, 22} }},
		{"excluded-outbound", func(r *Rules) {
			r.ExcludeOutboundPorts = []uint16{53, 443}
			r.ExcludeOutboundCIDRs = []netip.Prefix{p("fd00:ec2::254/128"), p("169.254.169.254/32"), p("10.0.0.0/8"), p("10.0.0.0/8"), p("100.64.0.0/10")}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Default()
			tc.change(&r)
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			got := Plan(r).String()
			if again := Plan(r).String(); again != got {
				t.Fatalf("Plan is not deterministic:\n%s\nthen\n%s", got, again)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestPlanGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Plan text changed (if intended, run with -update):\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Plan leaves the caller's lists as they were.
func TestPlanDoesNotReorderInput(t *testing.T) {
	r := Default()
	r.ExcludeInboundPorts = []uint16{22, 14090, 22}
	r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("1.0.0.0/8")}
	Plan(r)
	if r.ExcludeInboundPorts[0] != 22 || r.ExcludeInboundPorts[2] != 22 || r.ExcludeOutboundCIDRs[0].Addr().String() != "10.0.0.0" {
		t.Fatalf("Plan changed its input: %+v", r)
	}
}
