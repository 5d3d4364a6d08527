package trace

import (
	"errors"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/gateway/certs"
	"github.com/hopseal/hopseal/internal/telemetry"
)

const (
	gwID  = "spiffe://demo.local/ns/edge/sa/gateway"
	webID = "spiffe://demo.local/ns/shop/sa/web"
)

// baseline: a client behind a TCP load balancer (PROXY header) reaching a
// terminate route, the gateway's mesh connection to web, and web's proxy.
func baseline() Observed {
	up := &telemetry.Upstream{Local: "10.0.0.4:50000", Remote: "10.0.0.5:8080", Security: "mutual_tls",
		TLSVersion: "TLS 1.3", PeerID: webID, ALPN: "hopseal/1-http1"}
	return Observed{
		URL: "https://shop.example.com/", TraceID: "t1",
		Client: ClientSide{Local: "10.0.0.2:41000", Remote: "10.0.0.3:443", Host: "shop.example.com", HTTPProto: "HTTP/1.1", Status: 200,
			TLS: &ClientTLS{Version: "TLS 1.3", ALPN: "http/1.1", Binding: "aa", Leaf: certs.Info{Names: []string{"shop.example.com"}, Issuer: "public"}}},
		Gateway: &GatewayView{Admin: "127.0.0.1:1", Status: gateway.Status{SPIFFEID: gwID, Listeners: []gateway.ListenerStatus{{
			Name: "https", Address: "10.0.0.4:8443",
			Routes: []gateway.RouteStatus{{Hostname: "shop.example.com", Mode: "terminate", Certificates: []certs.Info{{Names: []string{"shop.example.com"}}}}},
		}}}, Records: []telemetry.Record{
			{ID: 7, Kind: "connection", Open: true, Listener: "https", Mode: "terminate", Route: "shop.example.com",
				Client: "10.0.0.2:41000", Source: "10.0.0.3:39000", Protocol: "http1", Security: "tls", TLSVersion: "TLS 1.3", TLSBinding: "aa"},
			{ID: 8, Kind: "request", Conn: 7, Trace: "t1", Route: "shop.example.com", Status: 200, Upstream: up},
		}},
		Proxies: []ProxyView{{Admin: "127.0.0.1:2", SPIFFEID: webID, Records: []telemetry.Record{
			{Kind: "connection", Open: true, Direction: "inbound", Source: "10.0.0.4:50000", Destination: "10.0.0.5:8080",
				PeerID: gwID, Security: "mutual_tls", TLSVersion: "TLS 1.3", Protocol: "http1"},
		}}},
	}
}

// TestBuild: each case changes one thing in the baseline; want are parts
// of the printed chain, in order.
func TestBuild(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*Observed)
		want     []string
		problems int
	}{
		{"relaying load balancer", func(*Observed) {}, []string{
			"hop 1: client 10.0.0.2:41000 → load balancer 10.0.0.3:443", "the gateway holds the same TLS session: the load balancer does not decrypt",
			"hop 2: load balancer 10.0.0.3:39000 → gateway 10.0.0.4:8443 (https)", "TLS (relayed) (encrypted)", "client 10.0.0.2:41000 (PROXY header)",
			"hop 3: gateway 10.0.0.4:50000 → 10.0.0.5:8080", "mTLS (encrypted)", gwID + " → " + webID + ", both verified",
			"the proxy of " + webID + " saw peer " + gwID + " over TLS 1.3",
			"hop 4: proxy " + webID + " → app 10.0.0.5:8080", "plaintext (local: never on a network)",
			"every hop that crosses a network is encrypted"}, 0},
		{"terminating load balancer", func(o *Observed) {
			o.Gateway.Records[0].TLSBinding, o.Gateway.Records[0].PeerCert, o.Gateway.Records[0].Security = "bb", "CN=lb", "mutual_tls"
		}, []string{"TLS ends at the load balancer", "hop 2:", "TLS 1.3, http1", "mTLS (encrypted)",
			"server shop.example.com; client certificate CN=lb; client 10.0.0.2:41000 (PROXY header)"}, 0},
		{"no load balancer", func(o *Observed) { o.Gateway.Records[0].Source = "10.0.0.2:41000" }, []string{
			"hop 1: client 10.0.0.2:41000 → gateway 10.0.0.4:8443 (https)", "hop 2: gateway 10.0.0.4:50000"}, 0},
		{"a proxy saw another peer", func(o *Observed) { o.Proxies[0].Records[0].PeerID = "spiffe://demo.local/x" },
			[]string{"NOT the gateway's identity " + gwID}, 0},
		{"delivery elsewhere in plaintext", func(o *Observed) { o.Proxies[0].Records[0].Destination = "10.0.0.9:8080" },
			[]string{"app 10.0.0.9:8080", "plaintext (NOT ENCRYPTED)", "NOT PROTECTED: hop 4"}, 1},
		{"proxy not asked", func(o *Observed) { o.Proxies = nil }, []string{
			"hop 3:", "not traced: the proxy at 10.0.0.5:8080 was not asked"}, 0},
		{"gateway not asked", func(o *Observed) { o.Gateway = nil }, []string{
			"hop 1: client 10.0.0.2:41000 → 10.0.0.3:443", "not traced: the gateway was not asked"}, 0},
		{"gateway unreachable", func(o *Observed) { o.Gateway.Err = errors.New("connection refused") },
			[]string{"not traced: gateway: connection refused"}, 0},
		{"request not seen", func(o *Observed) { o.Gateway.Records = o.Gateway.Records[:0] },
			[]string{"has no record of this request"}, 0},
		{"backend refused", func(o *Observed) {
			o.Gateway.Records[1].Upstream, o.Gateway.Records[1].Status, o.Gateway.Records[1].Reason = nil, 502, "remote error"
		}, []string{"not traced: the gateway reached no backend: 502, remote error"}, 0},
		{"plaintext client", func(o *Observed) { o.Client.TLS = nil; o.Gateway.Records[0].TLSBinding = "" },
			[]string{"hop 1:", "plaintext (NOT ENCRYPTED)", "NOT PROTECTED: hop 1"}, 1},
		{"passthrough", func(o *Observed) {
			o.Gateway.Records = []telemetry.Record{{ID: 3, Kind: "connection", Listener: "https", Mode: "passthrough",
				Client: "10.0.0.2:41000", Source: "10.0.0.3:39000", Protocol: "tls", Upstream: o.Gateway.Records[1].Upstream}}
			o.Proxies[0].Records[0].Protocol = "tls"
		}, []string{"whether the load balancer opens it is not visible", "TLS (relayed)", "hop 3:",
			"TLS (the client's own, end to end) (encrypted)"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseline()
			tc.change(&o)
			ch := Build(o)
			var b strings.Builder
			Print(&b, ch)
			out, rest := b.String(), b.String()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("the chain lacks %q (or has it out of order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if len(ch.Problems) != tc.problems {
				t.Fatalf("%d problems, want %d:\n%s", len(ch.Problems), tc.problems, out)
			}
		})
	}
}

func TestParseResolve(t *testing.T) {
	tests := []struct{ in, from, to string }{
		{"shop.example.com:443:10.0.0.5", "shop.example.com:443", "10.0.0.5:443"},
		{"shop.example.com:8443:[fd00::5]", "shop.example.com:8443", "[fd00::5]:8443"},
		{"shop.example.com:443", "", ""},
		{"shop.example.com:443:not-an-ip", "", ""},
		{":443:10.0.0.5", "", ""},
	}
	for _, tc := range tests {
		from, to, err := ParseResolve(tc.in)
		if from != tc.from || to != tc.to || (err == nil) != (tc.from != "") {
			t.Errorf("ParseResolve(%q) = %q, %q, %v", tc.in, from, to, err)
		}
	}
}
