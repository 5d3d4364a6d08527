package mesh_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// TestMetricsAndStatus: after an HTTP request from a to b, both proxies'
// admin ports (on the pod's loopback) show it in Prometheus metrics, and
// /status shows the SVID, the trust bundle, the policy and discovery.
func TestMetricsAndStatus(t *testing.T) {
	t.Parallel()
	m := testenv.NewMesh(t, testenv.MeshConfig{})
	pods := m.AddPods(t,
		testenv.PodSpec{Name: "a"},
		testenv.PodSpec{Name: "b", Policy: policy(allowRule("a-calls-b", []int{httpPort}, m.ID("a")), allowRule("ops", nil, m.ID("ops")))})
	a, b := pods[0], pods[1]
	serveApps(t, b)
	if r, err := a.HTTP("GET", b.Addr(httpPort), "/metered", ""); err != nil || r.Status != 200 {
		t.Fatalf("GET from a to b: %+v, %v", r, err)
	}
	a.WaitConnection(t, testenv.Fields("direction", "outbound"))
	b.WaitConnection(t, testenv.Fields("direction", "inbound"))

	t.Run("metrics", func(t *testing.T) {
		checks := []struct {
			pod    *testenv.MeshPod
			name   string
			labels map[string]string
			min    float64
		}{
			{a, "hopseal_proxy_handshake_duration_seconds_count", map[string]string{"direction": "outbound"}, 1},
			{b, "hopseal_proxy_handshake_duration_seconds_count", map[string]string{"direction": "inbound"}, 1},
			{a, "hopseal_proxy_connections_total", map[string]string{"direction": "outbound", "decision": "allow",
				"peer_id": b.ID, "tls_version": "TLS 1.3", "security": "mutual_tls", "protocol": "http1"}, 1},
			{b, "hopseal_proxy_connections_total", map[string]string{"direction": "inbound", "decision": "allow",
				"peer_id": a.ID, "tls_version": "TLS 1.3", "security": "mutual_tls", "protocol": "http1"}, 1},
			{b, "hopseal_proxy_bytes_total", map[string]string{"direction": "inbound", "peer_id": a.ID, "stream": "down"}, 1},
			{b, "hopseal_http_requests_total", map[string]string{"direction": "inbound", "peer_id": a.ID,
				"method": "GET", "code": "200", "decision": "allow"}, 1},
			{b, "hopseal_http_request_duration_seconds_count", map[string]string{"direction": "inbound"}, 1},
			{a, "hopseal_svid_expiry_seconds", nil, 3600},
		}
		for _, c := range checks {
			if v, ok := c.pod.Metric(t, c.name, c.labels); !ok || v < c.min {
				t.Errorf("%s's %s%v = %v (found %v); want at least %v", c.pod.Name, c.name, c.labels, v, ok, c.min)
			}
		}
		for _, path := range []string{"/ready", "/live"} {
			if code, body := a.AdminGet(t, path); code != 200 {
				t.Errorf("a's %s: %d %s", path, code, body)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		st := b.Status(t)
		serials := b.Proxy.LogLines("SVID updated")
		if st.SPIFFEID != b.ID || st.SVID == nil || len(serials) == 0 || st.SVID.Serial != testenv.Str(serials[len(serials)-1], "serial") ||
			!st.SVID.NotAfter.After(time.Now()) {
			t.Errorf("status SPIFFE ID %q, SVID %+v; want %s with the serial it logged (%v), not expired", st.SPIFFEID, st.SVID, b.ID, serials)
		}
		if len(st.Bundle) == 0 || st.Bundle[0].SHA256 == "" {
			t.Errorf("status bundle %+v; want the CA's roots", st.Bundle)
		}
		if st.Mode != "strict" || st.Egress != "allow" {
			t.Errorf("status mode %q, egress %q; want strict and allow", st.Mode, st.Egress)
		}
		var rules []string
		for _, r := range st.Policy.Rules {
			rules = append(rules, r.Name)
		}
		if st.Policy.Default != "deny" || !slices.Equal(rules, []string{"a-calls-b", "ops"}) {
			t.Errorf("status policy default %q, rules %v; want deny and [a-calls-b ops]", st.Policy.Default, rules)
		}
		want := map[string][]string{a.ID: {a.IP.String(), a.IP6.String()}, b.ID: {b.IP.String(), b.IP6.String()}}
		got := map[string][]string{}
		for _, w := range st.Discovery.Workloads {
			got[w.SPIFFEID] = w.Addresses
		}
		for id, addrs := range want {
			if !sameSet(got[id], addrs) {
				t.Errorf("status discovery for %s: %v; want %v", id, got[id], addrs)
			}
		}
		inbound := fmt.Sprintf(":%d", testenv.MeshInboundPort)
		if !slices.ContainsFunc(st.Listeners, func(l string) bool { return strings.HasSuffix(l, inbound) }) {
			t.Errorf("status listeners %v; want the inbound listener on %s", st.Listeners, inbound)
		}
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
