package capture

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/audit"
)

func TestRules(t *testing.T) {
	tls13 := &TLSInfo{Version: "TLS 1.3", Group: "X25519", ClientCert: certNotVisible}
	cases := []struct {
		name string
		v    Verdict
		want []string // rule severity
	}{
		{"TLS 1.3", Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: tls13}, []string{"capture/encrypted info"}},
		{"TLS 1.2 without client auth", Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: &TLSInfo{Version: "TLS 1.2", ClientCert: certNotRequested}},
			[]string{"capture/encrypted info", "capture/tls-no-client-auth low"}},
		{"weak TLS", Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: &TLSInfo{Version: "TLS 1.0", ClientCert: certRequested, Weak: []string{"TLS 1.0 is deprecated"}}},
			[]string{"capture/encrypted info", "capture/tls-weak high"}},
		{"refused handshake", Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: &TLSInfo{Alert: "fatal protocol_version (70)"}},
			[]string{"capture/encrypted info", "capture/tls-handshake-failed info"}},
		{"STARTTLS", Verdict{Protocol: ProtoSMTP, Encrypted: true, Upgrade: "STARTTLS", TLS: tls13},
			[]string{"capture/encrypted info", "capture/opportunistic-tls low"}},
		{"SSH 1", Verdict{Protocol: ProtoSSH, Encrypted: true, Banner: "SSH-1.5-old"}, []string{"capture/encrypted info", "capture/ssh-weak high"}},
		{"plaintext Redis", Verdict{Protocol: ProtoRedis}, []string{"capture/plaintext-redis high"}},
		{"credentials", Verdict{Protocol: ProtoHTTP1, Cleartext: true}, []string{"capture/plaintext-http1 critical"}},
		{"DNS", Verdict{Protocol: ProtoDNS}, []string{"capture/plaintext-dns low"}},
		{"opaque", Verdict{Protocol: ProtoOpaque}, []string{"capture/unrecognised medium"}},
		{"no data", Verdict{Protocol: ProtoNone}, nil},
	}
	for _, c := range cases {
		var got []string
		for _, r := range rules(&Flow{Client: "10.0.0.1", Server: "10.0.0.2:443", Verdict: c.v}) {
			got = append(got, r.id+" "+r.severity.String())
			if r.severity > audit.Info && (r.fix == "" || len(r.controls) == 0) {
				t.Errorf("%s: %s has no fix or no controls", c.name, r.id)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// Flows between the same two workloads make one finding per rule, with
// each flow as evidence.
func TestFindingsGroupByWorkload(t *testing.T) {
	names := &Names{}
	names.Add(mustPrefix("10.0.0.0/24"), Workload{Name: "orders", Namespace: "shop"})
	names.Add(mustPrefix("10.0.1.0/24"), Workload{Name: "payments", Namespace: "shop"})
	o := Options{Names: names}.withDefaults()
	g := newAggregate(&o)
	for i, client := range []string{"10.0.0.1:40000", "10.0.0.2:40000", "10.0.0.2:40001"} {
		c := &conn{index: i, verdict: Verdict{Protocol: ProtoHTTP1, Sample: "GET / HTTP/1.1"}, first: time.Unix(100, 0), last: time.Unix(200, 0)}
		c.client, c.server = mustAddrPort(client), mustAddrPort("10.0.1.7:8080")
		g.add(c)
	}
	r := g.result()
	if len(r.Flows) != 2 || r.Flows[1].Connections != 2 {
		t.Fatalf("flows %+v", r.Flows)
	}
	fs := r.Findings()
	if len(fs) != 1 || fs[0].Title != "orders → payments: plaintext HTTP" || fs[0].Subject.Dest != "payments:8080" || fs[0].Subject.Namespace != "shop" {
		t.Fatalf("findings %+v", fs)
	}
	if ev := strings.Join(fs[0].Evidence, "\n"); strings.Count(ev, "10.0.0.") != 2 || !strings.Contains(ev, "2 connection(s)") {
		t.Errorf("evidence:\n%s", ev)
	}
}

func mustPrefix(s string) netip.Prefix     { return netip.MustParsePrefix(s) }
func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// Hops sum the flows between two ends that speak the same protocol, and a
// hop is encrypted only if every flow in it was.
func TestHops(t *testing.T) {
	r := &Result{Flows: []Flow{
		{Client: "10.0.0.1", Server: "10.0.1.7:8080", Connections: 2, Verdict: Verdict{Protocol: ProtoHTTP1}},
		{Client: "10.0.0.1", Server: "10.0.1.7:8080", Connections: 3, Verdict: Verdict{Protocol: ProtoHTTP1}},
		{Client: "10.0.0.1", Server: "10.0.1.7:443", Connections: 1, Verdict: Verdict{Protocol: ProtoTLS, Encrypted: true}},
	}}
	hops := r.Hops()
	want := []audit.Hop{
		{Source: "10.0.0.1", Dest: "10.0.1.7", Protocol: ProtoHTTP1, Flows: 5},
		{Source: "10.0.0.1", Dest: "10.0.1.7", Protocol: ProtoTLS, Encrypted: true, Flows: 1},
	}
	if !slices.Equal(hops, want) {
		t.Fatalf("hops %+v, want %+v", hops, want)
	}
}
