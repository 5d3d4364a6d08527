package policy

import (
	"strings"
	"testing"
)

func baselineRule() Rule {
	return Rule{
		Name:  "shop/frontend-reads-orders",
		Ports: []uint16{8080},
		From:  []Peer{{SPIFFEID: frontend}},
		HTTP:  &HTTPRule{Methods: []string{"GET"}, PathPrefixes: []string{"/api/orders/"}},
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		change  func(r *Rule)
		wantErr string // "" = valid
	}{
		{name: "baseline", change: func(r *Rule) {}},
		{name: "unqualified name", change: func(r *Rule) { r.Name = "frontend-reads-orders" }},
		{name: "empty name", change: func(r *Rule) { r.Name = "" }, wantErr: "rules[0].name is required"},
		{name: "two slashes", change: func(r *Rule) { r.Name = "shop/a/b" }, wantErr: `rules[0].name: "shop/a/b" may only hold letters`},
		{name: "namespace not a label", change: func(r *Rule) { r.Name = "Shop/a" }, wantErr: "optionally after <namespace>/"},
		{name: "nothing after the slash", change: func(r *Rule) { r.Name = "shop/" }, wantErr: `rules[0].name: "shop/"`},
		{name: "port zero", change: func(r *Rule) { r.Ports = []uint16{0} }, wantErr: `rules[0].ports[0]: "0" is not a port`},
		{name: "every port", change: func(r *Rule) { r.Ports = nil }},
		{name: "no peers", change: func(r *Rule) { r.From = nil }, wantErr: "rules[0].from is empty"},
		{name: "peer mixes ID and namespace", change: func(r *Rule) { r.From[0].Namespace = "shop" }, wantErr: "rules[0].from[0] mixes spiffe_id"},
		{name: "bad ID", change: func(r *Rule) { r.From[0].SPIFFEID = "spiffe://example.org" }, wantErr: "needs a path"},
		{name: "namespace peer", change: func(r *Rule) { r.From[0] = Peer{Namespace: "shop"} }},
		{name: "unauthenticated peer", change: func(r *Rule) { r.From[0] = Peer{Unauthenticated: true} }},
		{name: "lower-case method", change: func(r *Rule) { r.HTTP.Methods = []string{"get"} }, wantErr: "is not an upper-case HTTP method"},
		{name: "prefix not canonical", change: func(r *Rule) { r.HTTP.PathPrefixes = []string{"/%61pi/"} }, wantErr: "write /api/"},
		{name: "whole connections", change: func(r *Rule) { r.HTTP = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baselineRule()
			tt.change(&r)
			p, err := New([]Rule{r}, local)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if p.local != local {
				t.Fatalf("local trust domain %v, want %v", p.local, local)
			}
		})
	}
}

// Rules built in code decide like rules from a file, and say which rule
// (by its qualified name) decided.
func TestNewDecides(t *testing.T) {
	other := baselineRule()
	other.Name, other.From, other.HTTP = "shop/billing-reaches-orders", []Peer{{Namespace: "billing"}}, nil
	p, err := New([]Rule{baselineRule(), other}, local)
	if err != nil {
		t.Fatal(err)
	}
	runDecide(t, p, []decideCase{
		{name: "request the first rule allows", peer: frontend, port: 8080, http: get("/api/orders/7"), allow: true, rule: "shop/frontend-reads-orders", reason: "by rule shop/frontend-reads-orders"},
		{name: "namespace peer of the local trust domain", peer: "spiffe://example.org/ns/billing/sa/invoices", port: 8080, allow: true, rule: "shop/billing-reaches-orders"},
		{name: "namespace peer of another trust domain", peer: "spiffe://other.org/ns/billing/sa/invoices", port: 8080, reason: "default deny"},
		{name: "port of no rule", peer: frontend, port: 9090, reason: "default deny"},
	})
}

func TestNewDuplicateNames(t *testing.T) {
	_, err := New([]Rule{baselineRule(), baselineRule()}, local)
	if err == nil || !strings.Contains(err.Error(), `rules[1].name: "shop/frontend-reads-orders" is already the name of rules[0]`) {
		t.Fatalf("New with a duplicate name: %v", err)
	}
}

func TestNewNoRulesDeniesAll(t *testing.T) {
	p, err := New(nil, local)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(Request{Peer: id(frontend), Port: 8080}); d.Allow {
		t.Fatalf("empty policy allowed: %+v", d)
	}
}

// Files keep their stricter names: a slash is for rules built in code.
func TestParseRejectsQualifiedName(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(baseline, "name: r1", "name: shop/r1", 1)), local)
	if err == nil || !strings.Contains(err.Error(), `rules[0].name: "shop/r1" may only hold letters, digits, '.', '-' and '_' (at most 253)`) {
		t.Fatalf("Parse with a qualified name: %v", err)
	}
}
