package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

var local = spiffeid.RequireTrustDomainFromString("example.org")

func load(t testing.TB, name string) *Policy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data, local)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return p
}

func id(s string) spiffeid.ID { return spiffeid.RequireFromString(s) }

func get(path string) *HTTP { return &HTTP{Method: "GET", Path: path} }

const (
	frontend = "spiffe://example.org/ns/shop/sa/frontend"
	checkout = "spiffe://example.org/ns/shop/sa/checkout"
)

type decideCase struct {
	name     string
	peer     string // "" = unauthenticated
	port     uint16
	http     *HTTP
	allow    bool
	needHTTP bool
	rule     string
	reason   string // substring of Reason
}

func runDecide(t *testing.T, p *Policy, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Request{Port: tt.port, HTTP: tt.http}
			if tt.peer != "" {
				r.Peer = id(tt.peer)
			}
			d := p.Decide(r)
			if d.Allow != tt.allow || d.NeedHTTP != tt.needHTTP || d.Rule != tt.rule {
				t.Fatalf("Decide = %+v, want allow=%v needHTTP=%v rule=%q", d, tt.allow, tt.needHTTP, tt.rule)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("Reason = %q, want it to contain %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestDecideShop(t *testing.T) {
	runDecide(t, load(t, "shop.yaml"), []decideCase{
		{name: "connection needs HTTP", peer: frontend, port: 8080, allow: true, needHTTP: true, rule: "frontend-reads-orders", reason: "HTTP requests that rule frontend-reads-orders allows"},
		{name: "allowed request", peer: frontend, port: 8080, http: get("/api/orders/7"), allow: true, rule: "frontend-reads-orders", reason: "may GET /api/orders/7 on port 8080"},
		{name: "second listed port", peer: frontend, port: 8443, http: get("/api/orders/7"), allow: true, rule: "frontend-reads-orders"},
		{name: "port not listed", peer: frontend, port: 9100, reason: frontend + " may not reach port 9100: no rule matches (default deny)"},
		{name: "method not listed", peer: frontend, port: 8080, http: &HTTP{Method: "POST", Path: "/api/orders/7"}, reason: "may not POST /api/orders/7 on port 8080: no rule matches (default deny)"},
		{name: "method case matters", peer: frontend, port: 8080, http: &HTTP{Method: "get", Path: "/api/orders/7"}, reason: "default deny"},
		{name: "prefix with slash needs a child", peer: frontend, port: 8080, http: get("/api/orders"), reason: "default deny"},
		{name: "prefix matches whole segments", peer: checkout, port: 8080, http: &HTTP{Method: "POST", Path: "/api/orders-old"}, reason: "default deny"},
		{name: "prefix itself", peer: checkout, port: 8080, http: &HTTP{Method: "POST", Path: "/api/orders"}, allow: true, rule: "checkout-writes-orders"},
		{name: "prefix child", peer: checkout, port: 8080, http: &HTTP{Method: "PUT", Path: "/api/orders/9"}, allow: true, rule: "checkout-writes-orders"},
		{name: "namespace rule", peer: "spiffe://example.org/ns/shop/sa/cart", port: 8080, http: get("/healthz"), allow: true, rule: "shop-health"},
		{name: "namespace of another trust domain", peer: "spiffe://other.org/ns/shop/sa/cart", port: 8080, reason: "default deny"},
		{name: "later rule decides", peer: frontend, port: 8080, http: get("/healthz"), allow: true, rule: "shop-health"},
		{name: "merged and dotted path", peer: frontend, port: 8080, http: get("/api//orders/./7"), allow: true, rule: "frontend-reads-orders"},
		{name: "dot-dot into allowed path", peer: frontend, port: 8080, http: get("/healthz/../api/orders/1"), allow: true, rule: "frontend-reads-orders"},
		{name: "dot-dot out of allowed path", peer: frontend, port: 8080, http: get("/api/orders/../../admin"), reason: "may not GET /api/orders/../../admin"},
		{name: "encoded slash", peer: frontend, port: 8080, http: get("/api/orders/1%2F..%2F..%2Fadmin"), reason: "encoded slash"},
		{name: "query ignored", peer: frontend, port: 8080, http: get("/api/orders/7?next=%2Fadmin"), allow: true, rule: "frontend-reads-orders"},
		{name: "asterisk needs OPTIONS", peer: frontend, port: 8080, http: get("*"), reason: "only valid with OPTIONS"},
		{name: "rule without http admits requests", peer: "spiffe://example.org/ns/monitoring/sa/prometheus", port: 9100, http: get("/metrics"), allow: true, rule: "metrics-scrape"},
		{name: "whole connection", peer: "spiffe://example.org/ns/monitoring/sa/prometheus", port: 9100, allow: true, rule: "metrics-scrape", reason: "may reach port 9100 by rule metrics-scrape"},
		{name: "namespace with trust domain", peer: "spiffe://partner.org/ns/billing/sa/x", port: 9090, allow: true, rule: "billing-any"},
		{name: "namespace in local trust domain instead", peer: "spiffe://example.org/ns/billing/sa/x", port: 9090, reason: "default deny"},
		{name: "not the Kubernetes form", peer: "spiffe://partner.org/ns/billing/sa/x/extra", port: 9090, reason: "default deny"},
		{name: "trust domain", peer: "spiffe://payments.example.net/any/path", port: 9090, allow: true, rule: "billing-any"},
		{name: "subdomain is another trust domain", peer: "spiffe://eu.payments.example.net/x", port: 9090, reason: "default deny"},
		{name: "unauthenticated", port: 8080, reason: "unauthenticated peer may not reach port 8080"},
	})
}

func TestDecideMigration(t *testing.T) {
	runDecide(t, load(t, "migration.yaml"), []decideCase{
		{name: "plaintext connection needs HTTP", port: 8080, allow: true, needHTTP: true, rule: "legacy-plaintext-reads"},
		{name: "plaintext read", port: 8080, http: get("/"), allow: true, rule: "legacy-plaintext-reads", reason: "unauthenticated peer may GET / on port 8080"},
		{name: "plaintext write", port: 8080, http: &HTTP{Method: "DELETE", Path: "/x"}, reason: "default deny"},
		{name: "plaintext other port", port: 9000, reason: "default deny"},
		{name: "meshed peer any port", peer: frontend, port: 9000, allow: true, rule: "shop-workloads"},
		{name: "meshed peer is not unauthenticated", peer: "spiffe://example.org/ns/web/sa/x", port: 8080, reason: "default deny"},
	})
}

func TestDecideOptionsAsterisk(t *testing.T) {
	p, err := Parse([]byte("rules: [{name: opt, from: [{trust_domain: example.org}], http: {methods: [OPTIONS]}}]"), local)
	if err != nil {
		t.Fatal(err)
	}
	runDecide(t, p, []decideCase{
		{name: "OPTIONS *", peer: frontend, port: 80, http: &HTTP{Method: "OPTIONS", Path: "*"}, allow: true, rule: "opt"},
		{name: "GET *", peer: frontend, port: 80, http: get("*"), reason: "only valid with OPTIONS"},
		{name: "methods-only rule, ambiguous path", peer: frontend, port: 80, http: &HTTP{Method: "OPTIONS", Path: "/a%2Fb"}, reason: "encoded slash"},
		{name: "methods-only rule, any path", peer: frontend, port: 80, http: &HTTP{Method: "OPTIONS", Path: "/a/b"}, allow: true, rule: "opt"},
	})
}

func TestAllowIDs(t *testing.T) {
	runDecide(t, AllowIDs(8080, id(frontend)), []decideCase{
		{name: "listed", peer: frontend, port: 8080, allow: true, rule: "allow"},
		{name: "listed, request", peer: frontend, port: 8080, http: get("/%2F"), allow: true, rule: "allow"},
		{name: "other port", peer: frontend, port: 8081, reason: "default deny"},
		{name: "not listed", peer: checkout, port: 8080, reason: "default deny"},
		{name: "unauthenticated", port: 8080, reason: "default deny"},
	})
	runDecide(t, AllowIDs(0, id(frontend)), []decideCase{
		{name: "any port", peer: frontend, port: 1, allow: true, rule: "allow"},
	})
	runDecide(t, AllowIDs(0), []decideCase{
		{name: "no IDs", peer: frontend, port: 1, reason: "default deny"},
		{name: "no IDs, unauthenticated", port: 1, reason: "default deny"},
	})
}

func TestDenyAll(t *testing.T) {
	var none *Policy
	for name, p := range map[string]*Policy{"DenyAll": DenyAll(), "nil": none, "file": load(t, "deny-all.yaml")} {
		for _, r := range []Request{{Peer: id(frontend), Port: 1}, {Port: 1}, {Peer: id(frontend), Port: 1, HTTP: get("/")}} {
			if d := p.Decide(r); d.Allow || d.Rule != "" || !strings.Contains(d.Reason, "default deny") {
				t.Errorf("%s.Decide(%+v) = %+v, want default deny", name, r, d)
			}
		}
	}
}

func TestReasonIsHeaderSafe(t *testing.T) {
	p := load(t, "shop.yaml")
	for _, path := range []string{"/api/orders/1\r\nX-Injected: 1", "/\x00", "/é", "/" + strings.Repeat("a", 5000), "/\"quoted\""} {
		d := p.Decide(Request{Peer: id(frontend), Port: 8080, HTTP: &HTTP{Method: "GET\r\n", Path: path}})
		if d.Allow {
			t.Errorf("path %q allowed", path)
		}
		if !headerSafe(d.Reason) || len(d.Reason) > 512 {
			t.Errorf("Reason for %q is not a short printable ASCII header value: %q", path, d.Reason)
		}
	}
}

func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
