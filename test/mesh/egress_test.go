package mesh_test

import (
	"bytes"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

// TestEgress: an app in a meshed pod dials an address outside the mesh (an
// app in the root namespace, on the bridge's host address). With egress
// allow it goes through in plaintext, logged and counted as such so an
// audit sees it; with egress deny the app gets a reset.
func TestEgress(t *testing.T) {
	t.Parallel()
	m := testenv.NewMesh(t, testenv.MeshConfig{})
	pods := m.AddPods(t, testenv.PodSpec{Name: "open"}, testenv.PodSpec{Name: "closed", Egress: "deny"})
	open, closed := pods[0], pods[1]
	ext := m.RunHostEchoApp(t)

	t.Run("allow", func(t *testing.T) {
		msg := []byte("plaintext to a host outside the mesh")
		got, err := open.RoundTrip(ext.Addr, msg)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo from pod open to %s outside the mesh: %q, %v", ext.Addr, got, err)
		}
		l := open.WaitConnection(t, testenv.Fields("direction", "outbound", "destination", ext.Addr))
		logged(t, "open's proxy", l, map[string]string{"security": "none", "decision": "allow", "peer_id": "", "protocol": "tcp"})
		n, _ := open.Metric(t, "hopseal_proxy_connections_total",
			map[string]string{"direction": "outbound", "security": "none", "decision": "allow", "peer_id": ""})
		if n != 1 {
			t.Errorf("hopseal_proxy_connections_total{direction=outbound,security=none,decision=allow} = %v, want 1", n)
		}
	})

	t.Run("deny", func(t *testing.T) {
		before := ext.Conns()
		got, err := closed.RoundTrip(ext.Addr, []byte("must not leave"))
		if !testenv.IsReset(err) {
			t.Errorf("echo from pod closed to %s: %q, %v; want a connection reset", ext.Addr, got, err)
		}
		l := closed.WaitConnection(t, testenv.Fields("direction", "outbound", "destination", ext.Addr))
		logged(t, "closed's proxy", l, map[string]string{"decision": "deny", "peer_id": ""})
		if n := ext.Conns() - before; n != 0 {
			t.Errorf("the app outside the mesh accepted %d connections from a pod whose egress is deny", n)
		}
		n, _ := closed.Metric(t, "hopseal_proxy_connections_total", map[string]string{"direction": "outbound", "decision": "deny"})
		if n != 1 {
			t.Errorf("hopseal_proxy_connections_total{direction=outbound,decision=deny} = %v, want 1", n)
		}
	})
}
