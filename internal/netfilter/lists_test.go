package netfilter

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	cases := []struct {
		in   string
		want []uint16
		err  string
	}{
		{"14090,22", []uint16{14090, 22}, ""},
		{"", nil, ""},
		{" 22 , ,80,", []uint16{22, 80}, ""},
		{"65535", []uint16{65535}, ""},
		{"0", nil, `"0" is not a port`},
		{"65536", nil, `"65536" is not a port`},
		{"22;80", nil, `"22;80" is not a port`},
		{"-1", nil, `"-1" is not a port`},
		{"http", nil, `"http" is not a port`},
		{strings.Repeat("1,", 257), nil, "more than 256 items"},
	}
	for _, tc := range cases {
		got, err := ParsePorts(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePorts(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePorts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		in   string
		want []netip.Prefix
		err  string
	}{
		{"169.254.169.254,10.0.0.0/8", []netip.Prefix{p("169.254.169.254/32"), p("10.0.0.0/8")}, ""},
		{"fd00::/8, ::1", []netip.Prefix{p("fd00::/8"), p("::1/128")}, ""},
		{"", nil, ""},
		{"10.1.2.3/8", []netip.Prefix{p("10.1.2.3/8")}, ""}, // Validate reports the host bits
		{"10.0.0.0/33", nil, `"10.0.0.0/33" is not an address or a CIDR`},
		{"fe80::1%eth0", nil, `"fe80::1%eth0" is not an address or a CIDR`},
		{"example.com", nil, `"example.com" is not an address or a CIDR`},
		{"10.0.0.0/8/8", nil, `is not an address or a CIDR`},
	}
	for _, tc := range cases {
		got, err := ParsePrefixes(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePrefixes(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePrefixes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
