package capture

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestFilterMatches(t *testing.T) {
	// The baseline packet: TCP 10.0.0.1:40000 → 10.0.1.7:443.
	base := tcpPacket("10.0.0.1:40000", "10.0.1.7:443", 1, false, true, false, nil)
	udp := *base
	udp.proto = protoUDP
	v6 := *tcpPacket("[fd00::1]:40000", "[fd00::2]:443", 1, false, true, false, nil)
	cases := []struct {
		filter string
		p      *packet
		want   bool
	}{
		{"tcp", base, true},
		{"udp", base, false},
		{"udp", &udp, true},
		{"ip", base, true},
		{"ip6", base, false},
		{"ip6", &v6, true},
		{"host 10.0.1.7", base, true},
		{"src host 10.0.1.7", base, false},
		{"dst host 10.0.1.7", base, true},
		{"net 10.0.0.0/16", base, true},
		{"src net 10.0.1.0/24", base, false},
		{"net 10.0.1.7", base, true},
		{"port 443", base, true},
		{"src port 443", base, false},
		{"tcp dst port 443", base, true},
		{"udp port 443", base, false},
		{"portrange 400-500", base, true},
		{"portrange 444-500", base, false},
		{"port 80 or port 443", base, true},
		{"port 80 || port 443", base, true},
		{"tcp and not port 443", base, false},
		{"tcp && !port 443", base, false},
		{"not (port 80 or host 10.0.0.9)", base, true},
		{"(port 80 or port 443) and net fd00::/8", base, false},
		{"HOST 10.0.1.7 AND TCP", base, true},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.filter)
		if err != nil {
			t.Errorf("%q: %v", c.filter, err)
			continue
		}
		if got := f.matches(c.p); got != c.want {
			t.Errorf("%q on %v:%d → %v:%d: %v, want %v", c.filter, c.p.src, c.p.sport, c.p.dst, c.p.dport, got, c.want)
		}
	}
	if f, err := ParseFilter("  "); f != nil || err != nil || !f.matches(base) {
		t.Errorf("empty filter: %v, %v", f, err)
	}
}

func TestFilterErrors(t *testing.T) {
	cases := []struct {
		filter, token, msg string
	}{
		{"port eighty", "eighty", "not a port number"},
		{"port 80 or 443", "443", `write "host 443" or "port 443"`},
		{"host example.com", "example.com", "not an IP address"},
		{"net 10.0.0.0/33", "10.0.0.0/33", "not a network"},
		{"portrange 90-80", "90-80", "not a port range"},
		{"(tcp", "", `expected ")"`},
		{"tcp port", "", `"port" needs a value`},
		{"tcp garbage", "garbage", `expected "and", "or" or the end`},
		{"and tcp", "and", "expected host, net, port"},
		{"src tcp", "tcp", "expected host, net, port"},
		{"tcp & udp", "&", `expected "and", "or" or the end`},
	}
	for _, c := range cases {
		_, err := ParseFilter(c.filter)
		var fe *FilterError
		if !errors.As(err, &fe) || fe.Token != c.token || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), "example:") {
			t.Errorf("%q: error %v, want token %q and %q", c.filter, err, c.token, c.msg)
			continue
		}
		if c.token != "" && !strings.HasPrefix(c.filter[fe.Column-1:], c.token) {
			t.Errorf("%q: column %d does not point at %q", c.filter, fe.Column, c.token)
		}
	}
}

func TestHostsFile(t *testing.T) {
	n, err := ParseHosts([]byte(hostsYAML + "  - {name: payments-canary, addresses: [10.0.1.9, \"::ffff:10.0.2.1\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"10.0.0.10": "shop/orders", "10.0.1.5": "shop/payments", "10.0.1.9": "/payments-canary",
		"::ffff:10.0.0.10": "shop/orders", "10.0.2.1": "/payments-canary", "fd00::5": "/db", "10.0.3.1": "",
	} {
		w, ok := n.Lookup(netip.MustParseAddr(addr))
		if got := w.Namespace + "/" + w.Name; ok != (want != "") || ok && got != want {
			t.Errorf("%s: %q (%v), want %q", addr, got, ok, want)
		}
	}
	bad := map[string]string{
		"hosts: [{name: a, addresses: [nope]}]":        `hosts[0].addresses[0] "nope": not an IP address`,
		"hosts: [{name: a, addresses: [10.0.0.0/40]}]": "not a network",
		"hosts: [{addresses: [10.0.0.1]}]":             "hosts[0].name is empty",
		"hosts: [{name: a}]":                           "hosts[0].addresses is empty",
		"hosts: [{name: a, adresses: [10.0.0.1]}]":     "field adresses not found",
		"hosts: {name: a}":                             "expected hosts:",
	}
	for in, want := range bad {
		if _, err := ParseHosts([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"tcp port 443 and not host 10.0.0.1", "(src net fd00::/8 || dst portrange 1-9) && !udp", "port 80 or 443", "(((", "&|!"} {
		f.Add(s)
	}
	p := tcpPacket("10.0.0.1:40000", "10.0.1.7:443", 1, false, true, false, nil)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		var fe *FilterError
		switch {
		case err != nil && !errors.As(err, &fe):
			t.Fatalf("error of type %T: %v", err, err)
		case err != nil && fe.Token != "" && (fe.Column < 1 || !strings.HasPrefix(s[fe.Column-1:], fe.Token)):
			t.Fatalf("error %v points at column %d of %q", err, fe.Column, s)
		case err == nil:
			flt.matches(p)
		}
	})
}
