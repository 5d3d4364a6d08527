package config_test

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/config"
)

func FuzzParseProxy(f *testing.F) {
	f.Add([]byte(baseline))
	f.Add([]byte(strings.Replace(baseline, "allow: [", "allow: [spiffe://demo.local, ", 1)))
	f.Add([]byte("trust_domain: demo.local\nca: {address: ca:1, bundle_file: b}\ndata_dir: d\noutbound: [{listen: ':0', upstream: '[::1]:80', server_id: spiffe://demo.local/s}]\n"))
	f.Add([]byte("inbound: [{listen: '[fe80::1%eth0]:8080', forward: 'x:+80', allow: [spiffe://a/b]}]"))
	f.Add([]byte("spiffe_id: &a spiffe://demo.local/x\ninbound: [{allow: [*a, *a]}]"))
	f.Add([]byte("- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.ParseProxy(data)
		if err != nil {
			if p != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if len(p.Inbound)+len(p.Outbound) == 0 {
			t.Fatal("accepted a configuration without listeners")
		}
		if p.TrustDomain.IsZero() || (!p.ID.IsZero() && !p.ID.MemberOf(p.TrustDomain)) {
			t.Fatalf("identity %q outside trust domain %q", p.ID, p.TrustDomain)
		}
		checkAddr(t, p.CAAddress, true)
		if p.AdminListen != "" {
			checkAddr(t, p.AdminListen, false)
		}
		for _, in := range p.Inbound {
			checkAddr(t, in.Listen, false)
			checkAddr(t, in.Forward, true)
			if len(in.Allow) == 0 {
				t.Fatalf("inbound %q allows nobody", in.Name)
			}
			for _, id := range in.Allow {
				checkID(t, id)
			}
		}
		for _, out := range p.Outbound {
			checkAddr(t, out.Listen, false)
			checkAddr(t, out.Upstream, true)
			checkID(t, out.ServerID)
		}
	})
}

func checkID(t *testing.T, id spiffeid.ID) {
	t.Helper()
	back, err := spiffeid.FromString(id.String())
	if err != nil || back != id || id.Path() == "" {
		t.Fatalf("accepted SPIFFE ID %q is not a valid workload ID (%v)", id, err)
	}
}

// checkAddr: host:port with a port in range; an IP literal (or empty host)
// must resolve without DNS, the way net.Listen and net.Dial will see it.
func checkAddr(t *testing.T, addr string, dial bool) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("accepted address %q is not host:port: %v", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (dial && (n == 0 || host == "")) {
		t.Fatalf("accepted address %q has a bad host or port", addr)
	}
	if _, ipErr := netip.ParseAddr(host); host == "" || ipErr == nil {
		if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
			t.Fatalf("accepted address %q does not resolve: %v", addr, err)
		}
	}
}
