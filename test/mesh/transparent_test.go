package mesh_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// TestTransparentTraffic: apps dial each other's pod IPs (IPv4 and IPv6)
// with plain HTTP/1.1, HTTP/2 and raw TCP, knowing nothing of the mesh, and both proxies carry every
// connection over mutual TLS 1.3 with the post-quantum hybrid key exchange,
// each verifying the other's SPIFFE ID.
//
// What the app sees: the inbound proxy dials the original destination (the
// pod's own address and the app's port) from inside the pod, so the app sees
// every meshed connection come from its own pod IP. The caller's address is
// not passed on; its verified identity is in the proxy's connection log.
func TestTransparentTraffic(t *testing.T) {
	t.Parallel()
	_, a, b, apps, echoes := mutualPair(t)

	cases := []struct {
		name     string
		from, to *testenv.MeshPod
		dst      string
		http     string // "", "1" or "2"
		app      *testenv.App
		seenFrom string // the address the app sees the connection come from
		protocol string
	}{
		{"HTTP a to b", a, b, b.Addr(httpPort), "1", apps["b"], b.IP.String(), "http1"},
		{"HTTP b to a", b, a, a.Addr(httpPort), "1", apps["a"], a.IP.String(), "http1"},
		{"HTTP/2 a to b over IPv6", a, b, b.Addr6(httpPort), "2", apps["b"], b.IP6.String(), "http2"},
		{"TCP a to b", a, b, b.Addr(echoPort), "", echoes["b"], b.IP.String(), "tcp"},
		{"TCP a to b over IPv6", a, b, b.Addr6(echoPort), "", echoes["b"], b.IP6.String(), "tcp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.app.Seen())
			switch tc.http {
			case "1", "2":
				get := tc.from.HTTP
				if tc.http == "2" {
					get = tc.from.HTTP2
				}
				r, err := get("GET", tc.dst, "/hello", "")
				if err != nil || r.Status != 200 || !strings.HasPrefix(r.Body, tc.to.Name+" GET /hello from ") {
					t.Fatalf("GET http://%s/hello from pod %s: %+v, %v; want 200 from the app in %s", tc.dst, tc.from.Name, r, err, tc.to.Name)
				}
			default:
				msg := []byte("raw tcp through the mesh from " + tc.from.Name)
				got, err := tc.from.RoundTrip(tc.dst, msg)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo via %s from pod %s: got %q, %v", tc.dst, tc.from.Name, got, err)
				}
			}
			testenv.Eventually(t, 5*time.Second, "the app recording the connection", func() bool { return len(tc.app.Seen()) > before })
			if seen := tc.app.Seen()[before]; seen.RemoteHost() != tc.seenFrom {
				t.Errorf("the app in %s saw the connection from %s, want %s (its own pod address)", tc.to.Name, seen.Remote, tc.seenFrom)
			}
			want := map[string]string{"security": "mutual_tls", "decision": "allow", "tls_version": "TLS 1.3",
				"key_exchange": "X25519MLKEM768", "protocol": tc.protocol}
			out := tc.from.WaitConnection(t, testenv.Fields("direction", "outbound", "destination", tc.dst))
			logged(t, "outbound proxy of "+tc.from.Name, out, with(want, "peer_id", tc.to.ID))
			in := tc.to.WaitConnection(t, testenv.Fields("direction", "inbound", "destination", tc.dst))
			logged(t, "inbound proxy of "+tc.to.Name, in, with(want, "peer_id", tc.from.ID))
		})
	}
}

// with returns a copy of m with k set to v.
func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}
