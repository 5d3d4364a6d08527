package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/proxy"
)

func serveAdmin(t *testing.T, listen string, a Admin) string {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeAdmin(ctx, ln, a) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

func get(t *testing.T, addr, host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A page on another site that resolves its own name to 127.0.0.1 must not
// reach the admin endpoints (DNS rebinding).
func TestAdminHostGuard(t *testing.T) {
	addr := serveAdmin(t, "127.0.0.1:0", Admin{Registry: NewRegistry(), Ready: func() error { return nil }})
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		host string
		want int
	}{
		{addr, 200},
		{"localhost:" + port, 200},
		{"localhost", 200},
		{"[::1]:" + port, 200},
		{"attacker.example:" + port, http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io", http.StatusMisdirectedRequest},
		{"10.0.0.1:" + port, http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		if code, body := get(t, addr, tt.host, "/live"); code != tt.want {
			t.Errorf("Host %q: status %d (%s), want %d", tt.host, code, body, tt.want)
		}
	}
	if code, body := get(t, addr, "evil.example", "/metrics"); code != http.StatusMisdirectedRequest || !strings.Contains(body, "unexpected Host") {
		t.Errorf("metrics with a foreign Host: %d %q", code, body)
	}
}

func TestAdminReadyAndStatus(t *testing.T) {
	ready := errors.New("no SVID yet")
	addr := serveAdmin(t, "127.0.0.1:0", Admin{
		Registry: NewRegistry(),
		Ready:    func() error { return ready },
		Status:   func() any { return map[string]string{"spiffe_id": "spiffe://example.org/x"} },
	})
	if code, body := get(t, addr, addr, "/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no SVID yet") {
		t.Errorf("/ready while not ready: %d %q", code, body)
	}
	ready = nil
	if code, _ := get(t, addr, addr, "/ready"); code != 200 {
		t.Errorf("/ready: %d", code)
	}
	code, body := get(t, addr, addr, "/status")
	var st map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st["spiffe_id"] != "spiffe://example.org/x" {
		t.Errorf("/status: %d %q", code, body)
	}
}

func TestProxyMetrics(t *testing.T) {
	reg := NewRegistry()
	m := NewProxyMetrics(reg)
	peer := proxy.Peer{ID: spiffeid.RequireFromString("spiffe://example.org/ns/a/sa/b"), TLS: proxy.TLSInfo{Version: "TLS 1.3"}}
	allowed := proxy.Flow{Direction: proxy.Inbound, Decision: proxy.Allow, Peer: peer, Security: proxy.MutualTLS, Protocol: "http1", BytesUp: 10, BytesDown: 20, Handshake: 2 * time.Millisecond}
	m.FlowStarted(allowed)
	if got := testutil.ToFloat64(m.open.WithLabelValues("inbound")); got != 1 {
		t.Fatalf("open = %v", got)
	}
	m.FlowEnded(allowed)
	m.FlowEnded(proxy.Flow{Direction: proxy.Inbound, Decision: proxy.Deny, Security: proxy.Plaintext, Protocol: "tcp"})
	checks := []struct {
		got, want float64
		what      string
	}{
		{testutil.ToFloat64(m.open.WithLabelValues("inbound")), 0, "open after end"},
		{testutil.ToFloat64(m.conns.WithLabelValues("inbound", "allow", peer.ID.String(), "TLS 1.3", "mutual_tls", "http1")), 1, "allowed mTLS connection"},
		{testutil.ToFloat64(m.conns.WithLabelValues("inbound", "deny", "", "", "none", "tcp")), 1, "denied plaintext connection"},
		{testutil.ToFloat64(m.bytes.WithLabelValues("inbound", peer.ID.String(), "mutual_tls", "down")), 20, "bytes down"},
		{float64(testutil.CollectAndCount(m.handshake)), 1, "handshake histogram series"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestHTTPTelemetry(t *testing.T) {
	var logs bytes.Buffer
	h := NewHTTP(NewRegistry(), slog.New(slog.NewJSONHandler(&logs, nil)))
	peer := spiffeid.RequireFromString("spiffe://example.org/ns/a/sa/b")
	h.Request(proxy.Inbound, peer, l7.Request{Proto: "HTTP/1.1", Method: "GET", Path: "/x", Status: 200, Duration: time.Millisecond, Rule: "r"})
	h.Request(proxy.Inbound, peer, l7.Request{Proto: "HTTP/1.1", Method: "BREW", Path: "/pot", Status: 403, Denied: true, Reason: "no rule"})
	if got := testutil.ToFloat64(h.requests.WithLabelValues("inbound", peer.String(), "GET", "200", "allow")); got != 1 {
		t.Errorf("allowed GET counted %v", got)
	}
	// Unknown methods share one label value, so a client cannot explode the series.
	if got := testutil.ToFloat64(h.requests.WithLabelValues("inbound", peer.String(), "OTHER", "403", "deny")); got != 1 {
		t.Errorf("denied BREW counted %v", got)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per request:\n%s", len(lines), logs.String())
	}
	var denied map[string]any
	json.Unmarshal([]byte(lines[1]), &denied)
	if denied["msg"] != "http request" || denied["decision"] != "deny" || denied["method"] != "BREW" || denied["reason"] != "no rule" || denied["level"] != "WARN" {
		t.Errorf("denied request logged as %v", denied)
	}
}

// Routes serve beside the built-in endpoints, behind the same host guard
// (the kubelet probes the pod IP, which passes on a wildcard listener).
func TestAdminRoutes(t *testing.T) {
	addr := serveAdmin(t, "127.0.0.1:0", Admin{
		Registry: NewRegistry(),
		Ready:    func() error { return nil },
		Routes: map[string]http.Handler{"GET /app-health/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("probe " + r.URL.Path))
		})},
	})
	if code, body := get(t, addr, addr, "/app-health/web/readiness"); code != 200 || body != "probe /app-health/web/readiness" {
		t.Errorf("route: %d %q", code, body)
	}
	if code, _ := get(t, addr, "evil.example:80", "/app-health/web/readiness"); code == 200 {
		t.Error("a route answered a foreign Host")
	}
	if code, _ := get(t, addr, addr, "/live"); code != 200 {
		t.Errorf("/live beside routes: %d", code)
	}
}
