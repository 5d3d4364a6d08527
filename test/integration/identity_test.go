package integration_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/store"
	"github.com/hopseal/hopseal/internal/testenv"
)

// testDeniedIdentity: a proxy with a valid SVID whose identity is not on the
// server's allow list gets nothing through, and the refusal is logged and
// counted with the peer's identity.
func testDeniedIdentity(t *testing.T, m *mesh) {
	const intruderID = "spiffe://demo.local/ns/shop/sa/intruder"
	f := m.ca.ProxyFile(t, intruderID)
	f.Outbound = []config.OutboundFile{{Name: "up", Upstream: m.server.Inbound["echo"], ServerID: serverID}}
	intruder := testenv.StartProxy(t, m.exec, m.dir, "intruder", f)

	got, err := testenv.RoundTrip(intruder.Outbound["up"], []byte("let me in"), 10*time.Second)
	if len(got) != 0 {
		t.Fatalf("a denied identity got %q back through the server proxy (err %v)", got, err)
	}
	line := m.server.Connection(t, func(l map[string]any) bool { return testenv.Str(l, "peer_id") == intruderID })
	if d, r := testenv.Str(line, "decision"), testenv.Str(line, "reason"); d != "deny" || !strings.Contains(r, "not on the allow list") {
		t.Errorf("server logged decision %q reason %q, want deny naming the allow list", d, r)
	}
	const name = "hopseal_proxy_connections_total"
	metrics := testenv.Scrape(t, m.server.Admin)
	if n, _ := testenv.MetricValue(metrics, name, map[string]string{"decision": "deny", "peer_id": intruderID}); n != 1 {
		t.Errorf("%s{decision=\"deny\",peer_id=%q} = %v, want 1; the proxy exports:\n%s", name, intruderID, n, grepLines(metrics, name))
	}
	m.echo(t, "the allowed client still gets through")
}

// testSingleUseToken: a second proxy presenting an already redeemed token
// exits non-zero with a clear error, and the CA audits the refusal.
func testSingleUseToken(t *testing.T, m *mesh) {
	const onceID = "spiffe://demo.local/ns/shop/sa/once"
	f := m.ca.ProxyFile(t, onceID)
	f.Inbound = []config.InboundFile{{Name: "web", Forward: "127.0.0.1:9", Allow: []string{clientID}}}
	testenv.StartProxy(t, m.exec, m.dir, "once-first", f)
	before := len(m.ca.Audit(t))

	second := testenv.LaunchProxy(t, m.exec, m.dir, "once-second", f)
	err := second.Proc.Wait(30 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("second proxy with a used token: exit %v, want a non-zero exit", err)
	}
	out := second.Proc.Output()
	if !strings.Contains(out, "hopseal: ") || !strings.Contains(out, "join token rejected: unknown, expired or already used") {
		t.Errorf("second proxy's error does not say the join token was rejected:\n%s", out)
	}
	if strings.Contains(out, "proxy ready") {
		t.Errorf("second proxy became ready with a used token:\n%s", out)
	}
	var denied []store.Event
	for _, e := range m.ca.Audit(t)[before:] {
		if e.Kind == store.EventDenied && e.Attestation == "join_token" && strings.Contains(e.Reason, "already used") {
			denied = append(denied, e)
		}
	}
	if len(denied) != 1 {
		t.Errorf("audit log has %d join_token denials saying 'already used' after the second proxy, want 1", len(denied))
	}
}

// grepLines keeps the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
