package mesh_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// httpRule is a policy rule letting id send these methods to /public.
func httpRule(name, id string, methods ...string) string {
	return allowRule(name, []int{httpPort}, id) +
		"    http:\n      methods: [" + strings.Join(methods, ", ") + "]\n      path_prefixes: [/public]\n"
}

// TestPolicy: default deny, then hot reloads of the policy file (on SIGHUP
// and when the proxy sees the file change) that open the echo port, add
// HTTP rules and widen them, while an open connection lives through every
// reload.
func TestPolicy(t *testing.T) {
	t.Parallel()
	m := testenv.NewMesh(t, testenv.MeshConfig{})
	echoRule := allowRule("a-echo", []int{echoPort}, m.ID("a"))
	pods := m.AddPods(t,
		testenv.PodSpec{Name: "a"},
		testenv.PodSpec{Name: "b", Policy: policy(allowRule("c-only", nil, m.ID("c")))})
	a, b := pods[0], pods[1]
	apps, echoes := serveApps(t, b)

	t.Run("default deny", func(t *testing.T) {
		// A client that waits for the server to speak first, so what it
		// sees does not depend on when its own bytes arrive.
		got, err := readFirst(a, b.Addr(echoPort))
		if !testenv.IsReset(err) {
			// b's proxy resets the mesh connection; a's outbound proxy must
			// pass that on to the app as a reset, not as a clean end.
			t.Errorf("the app in a, refused by b's policy, read %q, %v; want a connection reset, not a clean close", got, err)
		}
		l := b.WaitConnection(t, testenv.Fields("direction", "inbound", "decision", "deny"))
		logged(t, "b's proxy", l, map[string]string{"peer_id": a.ID, "security": "mutual_tls", "rule": ""})
		if !strings.Contains(testenv.Str(l, "reason"), "default deny") {
			t.Errorf("deny reason %q; want it to name the default deny", testenv.Str(l, "reason"))
		}
		if n := echoes["b"].Conns(); n != 0 {
			t.Errorf("b's app accepted %d connections; a denied peer must not reach it", n)
		}
		n, _ := b.Metric(t, "hopseal_proxy_connections_total", map[string]string{"direction": "inbound", "decision": "deny", "peer_id": a.ID})
		if n != 1 {
			t.Errorf("hopseal_proxy_connections_total{direction=inbound,decision=deny,peer_id=a} = %v, want 1", n)
		}
	})

	b.WritePolicy(t, policy(echoRule))
	b.SIGHUP(t) // re-read now; later reloads rely on the proxy watching the file
	msg := []byte("allowed after reload")
	testenv.Eventually(t, 10*time.Second, "a reaching b's echo port after the policy allows it", func() bool {
		got, err := a.RoundTrip(b.Addr(echoPort), msg)
		return err == nil && bytes.Equal(got, msg)
	})
	l := b.WaitConnection(t, testenv.Fields("direction", "inbound", "decision", "allow"))
	logged(t, "b's proxy", l, map[string]string{"peer_id": a.ID, "rule": "a-echo"})
	open := openEcho(t, a, b.Addr(echoPort))

	b.SetPolicy(t, policy(echoRule, httpRule("a-reads-public", a.ID, "GET")))
	stillOpen(t, open, "after adding HTTP rules")
	t.Run("HTTP rules", func(t *testing.T) { checkHTTPRules(t, a, b, apps["b"]) })

	b.SetPolicy(t, policy(echoRule, httpRule("a-writes-public", a.ID, "GET", "POST")))
	r, err := a.HTTP("POST", b.Addr(httpPort), "/public/form", "posted")
	if err != nil || r.Status != 200 {
		t.Errorf("POST /public after the reload that allows it: %+v, %v; want 200", r, err)
	}
	b.WaitHTTPRequest(t, testenv.Fields("method", "POST", "path", "/public/form", "decision", "allow", "rule", "a-writes-public"))
	stillOpen(t, open, "after allowing POST")
}

// checkHTTPRules runs requests against a policy that lets a GET /public on
// b's HTTP port, and nothing else there.
func checkHTTPRules(t *testing.T, a, b *testenv.MeshPod, app *testenv.App) {
	cases := []struct {
		name, method, target string
		allowed              bool
	}{
		{"GET under the prefix", "GET", "/public/page", true},
		{"POST under the prefix", "POST", "/public/page", false},
		{"GET outside the prefix", "GET", "/private", false},
		{"GET with a doubled slash", "GET", "//private", false},
		{"GET with a dot-dot segment", "GET", "/public/../private", false},
	}
	denied := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := a.HTTP(tc.method, b.Addr(httpPort), tc.target, "")
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.target, err)
			}
			l := b.WaitHTTPRequest(t, testenv.Fields("method", tc.method, "path", tc.target))
			if tc.allowed {
				if r.Status != 200 || testenv.Str(l, "rule") != "a-reads-public" || testenv.Str(l, "decision") != "allow" {
					t.Errorf("%s %s: status %d, log %v; want 200 by rule a-reads-public", tc.method, tc.target, r.Status, l)
				}
				return
			}
			denied++
			if r.Status != 403 || r.Header.Get("X-Hopseal-Denied") == "" {
				t.Errorf("%s %s: status %d, X-Hopseal-Denied %q; want 403 with the header", tc.method, tc.target, r.Status, r.Header.Get("X-Hopseal-Denied"))
			}
			if testenv.Str(l, "decision") != "deny" || testenv.Num(l, "status") != 403 || testenv.Str(l, "reason") == "" {
				t.Errorf("%s %s: log line %v; want decision deny, status 403 and a reason", tc.method, tc.target, l)
			}
		})
	}
	for _, s := range app.Seen() {
		if strings.Contains(s.Target, "private") || s.Method == "POST" {
			t.Errorf("b's app received a denied request: %s %s", s.Method, s.Target)
		}
	}
	n, _ := b.Metric(t, "hopseal_http_requests_total", map[string]string{"direction": "inbound", "decision": "deny", "code": "403", "peer_id": a.ID})
	if int(n) != denied {
		t.Errorf("hopseal_http_requests_total{decision=deny,code=403} = %v, want %d", n, denied)
	}
}

// readFirst connects from pod from and reads what the server says first.
func readFirst(from *testenv.MeshPod, addr string) ([]byte, error) {
	c, err := from.Dial("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	return buf[:n], err
}

// openEcho opens a connection to an echo app that the test keeps open.
func openEcho(t *testing.T, from *testenv.MeshPod, addr string) net.Conn {
	t.Helper()
	c, err := from.Dial("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	stillOpen(t, c, "when opened")
	return c
}

// stillOpen checks that c still echoes.
func stillOpen(t *testing.T, c net.Conn, when string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := testenv.Echo(c, "still here "+when); err != nil {
		t.Fatalf("the open connection %s: %v; a reload must not drop allowed connections", when, err)
	}
}
