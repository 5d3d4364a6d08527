package netfilter

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	valid := func() Rules {
		r := Default()
		r.ExcludeInboundPorts = []uint16{14090}
		r.ExcludeOutboundPorts = []uint16{53}
		r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("fd00::/8")}
		return r
	}
	cases := []struct {
		name   string
		change func(*Rules)
		want   string // "" means valid
	}{
		{"baseline", func(*Rules) {}, ""},
		{"defaults alone", func(r *Rules) { *r = Default() }, ""},
		{"other ports", func(r *Rules) { r.InboundPort, r.OutboundPort = 15006, 15001 }, ""},
		{"no inbound port", func(r *Rules) { r.InboundPort = 0 }, "--inbound-port 0 is not a port"},
		{"no outbound port", func(r *Rules) { r.OutboundPort = 0 }, "--outbound-port 0 is not a port"},
		{"same port twice", func(r *Rules) { r.OutboundPort = r.InboundPort }, "--inbound-port and --outbound-port are both 14006"},
		{"root as proxy", func(r *Rules) { r.ProxyUID = 0 }, "--proxy-uid 0 would exempt every root process"},
		{"inbound port 0 excluded", func(r *Rules) { r.ExcludeInboundPorts = []uint16{22, 0} }, "--exclude-inbound-ports lists port 0"},
		{"outbound port 0 excluded", func(r *Rules) { r.ExcludeOutboundPorts = []uint16{0} }, "--exclude-outbound-ports lists port 0"},
		{"zero prefix", func(r *Rules) { r.ExcludeOutboundCIDRs = []netip.Prefix{{}} }, "is not a CIDR"},
		{"host bits", func(r *Rules) { r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")} },
			"--exclude-outbound-cidrs 10.1.2.3/8 has host bits set: write the network address 10.0.0.0/8"},
		{"everything", func(r *Rules) { r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")} },
			"excludes every destination"},
		{"everything IPv6", func(r *Rules) { r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("::/0")} },
			"excludes every destination"},
		{"IPv4-mapped", func(r *Rules) { r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")} },
			"IPv4-mapped"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			tc.change(&r)
			before := fmt.Sprint(r)
			err := r.Validate()
			if fmt.Sprint(r) != before {
				t.Fatalf("Validate changed the rules")
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Rules{}.Validate()
	if err == nil {
		t.Fatal("zero Rules validated")
	}
	for _, flag := range []string{"--inbound-port", "--outbound-port", "--proxy-uid"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error %q does not name %s", err, flag)
		}
	}
}
