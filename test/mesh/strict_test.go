package mesh_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/proxies"
	"github.com/hopseal/hopseal/internal/testenv"
)

// plainClient is one way a workload outside the mesh talks to a pod.
type plainClient struct {
	name     string
	port     uint16
	protocol string
	// try connects from pod from to pod to; ok says the app answered.
	try func(from, to *testenv.MeshPod) (ok bool, err error)
}

var plainClients = []plainClient{
	{"HTTP", httpPort, "http1", func(from, to *testenv.MeshPod) (bool, error) {
		r, err := from.HTTP("GET", to.Addr(httpPort), "/legacy", "")
		return err == nil && r.Status == 200 && strings.HasPrefix(r.Body, to.Name+" GET /legacy"), err
	}},
	{"raw TCP", echoPort, "tcp", func(from, to *testenv.MeshPod) (bool, error) {
		msg := []byte("legacy bytes, no proxy")
		got, err := from.RoundTrip(to.Addr(echoPort), msg)
		return err == nil && bytes.Equal(got, msg), err
	}},
	{"TLS without a mesh identity", echoPort, "tls", func(from, to *testenv.MeshPod) (bool, error) {
		c, err := from.Dial("tcp", to.Addr(echoPort), 5*time.Second)
		if err != nil {
			return false, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return false, tls.Client(c, &tls.Config{ServerName: "legacy", InsecureSkipVerify: true}).Handshake()
	}},
}

// TestStrictAndPermissive: a pod outside the mesh (no init-net, no proxy)
// connects to a strict pod and to a permissive pod. The strict proxy resets
// every connection that is not mesh mTLS before the app sees it, and logs
// why; the permissive one lets plaintext through, and logs and counts it as
// such, for migration.
func TestStrictAndPermissive(t *testing.T) {
	t.Parallel()
	m := testenv.NewMesh(t, testenv.MeshConfig{})
	unauthenticated := "rules:\n  - name: legacy-clients\n    from:\n      - unauthenticated: true\n"
	pods := m.AddPods(t,
		testenv.PodSpec{Name: "plain", NoProxy: true},
		testenv.PodSpec{Name: "strict", Policy: unauthenticated},
		testenv.PodSpec{Name: "permissive", Mode: "permissive", Policy: unauthenticated})
	plain, strict, permissive := pods[0], pods[1], pods[2]
	httpApps, echoApps := serveApps(t, strict, permissive)

	for i, c := range plainClients {
		t.Run("strict refuses "+c.name, func(t *testing.T) {
			if ok, err := c.try(plain, strict); ok || !testenv.IsReset(err) {
				t.Errorf("%s from the pod without proxy: answered %v, %v; want a connection reset", c.name, ok, err)
			}
			denied := strict.Proxy.WaitLogLines(t, "connection", i+1, 10*time.Second)[i]
			logged(t, "strict proxy", denied, map[string]string{"direction": "inbound", "decision": "deny", "peer_id": ""})
			if reason := testenv.Str(denied, "reason"); !strings.Contains(reason, "strict") ||
				!strings.HasPrefix(testenv.Str(denied, "source"), plain.IP.String()+":") {
				t.Errorf("strict proxy's deny line: reason %q, source %q; want a reason naming strict mode, from %s", reason, testenv.Str(denied, "source"), plain.IP)
			}
			if n := httpApps["strict"].Conns() + echoApps["strict"].Conns(); n != 0 {
				t.Errorf("the strict pod's apps accepted %d connections; the proxy must stop plaintext before them", n)
			}
		})
	}

	for _, c := range plainClients[:2] {
		t.Run("permissive accepts "+c.name, func(t *testing.T) {
			if ok, err := c.try(plain, permissive); !ok {
				t.Fatalf("%s from the pod without proxy to the permissive pod: %v; want the app's answer", c.name, err)
			}
			dst := permissive.Addr(c.port)
			l := permissive.WaitConnection(t, testenv.Fields("direction", "inbound", "destination", dst))
			logged(t, "permissive proxy", l, map[string]string{"security": "none", "decision": "allow", "peer_id": "",
				"protocol": c.protocol, "rule": "legacy-clients", "tls_version": ""})
			n, _ := permissive.Metric(t, "hopseal_proxy_connections_total", map[string]string{"direction": "inbound",
				"security": "none", "decision": "allow", "peer_id": "", "protocol": c.protocol})
			if n != 1 {
				t.Errorf("hopseal_proxy_connections_total{direction=inbound,security=none,decision=allow,protocol=%s} = %v, want 1", c.protocol, n)
			}
		})
	}

	// The audit reads the same from the proxies' admin endpoints: the
	// permissive pod's plaintext hops are findings; the strict pod let
	// nothing through.
	t.Run("audit evidence", func(t *testing.T) {
		evidence := func(p *testenv.MeshPod) audit.Evidence {
			ev := proxies.Collect(context.Background(), p.AdminClient(), []string{testenv.MeshAdminAddr}, time.Now())
			if ev.Partial != "" {
				t.Fatalf("evidence of %s is partial: %s", p.Name, ev.Partial)
			}
			return ev
		}
		perm := evidence(permissive)
		if len(perm.Findings) != 1 || perm.Findings[0].Rule != "telemetry/plaintext-accepted" ||
			perm.Findings[0].Subject.Source != plain.IP.String() || len(perm.Findings[0].Evidence) != 2 {
			t.Errorf("permissive pod's findings %+v: want one plaintext-accepted from %s, with both connections as evidence", perm.Findings, plain.IP)
		}
		for _, h := range perm.Hops {
			if h.Encrypted || h.Source != plain.IP.String() {
				t.Errorf("permissive pod's hop %+v: want plaintext from %s", h, plain.IP)
			}
		}
		if st := evidence(strict); len(st.Findings) != 0 || len(st.Hops) != 0 {
			t.Errorf("strict pod's evidence: findings %+v, hops %+v; it refused every plaintext connection", st.Findings, st.Hops)
		}
	})
}
