package identity

import (
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{name: "kubernetes form", in: "spiffe://example.org/ns/shop/sa/orders"},
		{name: "host path", in: "spiffe://example.org/host/db-1"},
		{name: "no scheme", in: "example.org/ns/shop/sa/orders", wantErr: "scheme"},
		{name: "wrong scheme", in: "https://example.org/x", wantErr: "scheme"},
		{name: "uppercase trust domain", in: "spiffe://Example.org/x", wantErr: "trust domain"},
		{name: "empty segment", in: "spiffe://example.org/ns//sa/x", wantErr: "empty"},
		{name: "dot segment", in: "spiffe://example.org/ns/./sa", wantErr: "dot"},
		{name: "trailing slash", in: "spiffe://example.org/ns/shop/", wantErr: "trailing"},
		{name: "query", in: "spiffe://example.org/x?y=1", wantErr: "character"},
		{name: "no path", in: "spiffe://example.org", wantErr: "needs a path"},
		{name: "port", in: "spiffe://example.org:8080/x", wantErr: "character"},
		{name: "empty", in: "", wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Parse(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.in, err)
				}
				if id.String() != tt.in {
					t.Fatalf("round trip: got %q", id)
				}
				return
			}
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.wantErr) {
				t.Fatalf("Parse(%q) error = %v, want it to mention %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestParseTrustDomain(t *testing.T) {
	if td, err := ParseTrustDomain("example.org"); err != nil || td.Name() != "example.org" {
		t.Fatalf("ParseTrustDomain: %v %v", td, err)
	}
	for _, bad := range []string{"", "Example.org", "spiffe://example.org/x", "a b"} {
		if _, err := ParseTrustDomain(bad); err == nil {
			t.Errorf("ParseTrustDomain(%q) accepted", bad)
		}
	}
}

func TestKubernetes(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	id, err := Kubernetes(td, "shop", "orders")
	if err != nil || id.String() != "spiffe://cluster.local/ns/shop/sa/orders" {
		t.Fatalf("Kubernetes = %v, %v", id, err)
	}
	ns, sa, ok := KubernetesParts(id)
	if !ok || ns != "shop" || sa != "orders" {
		t.Fatalf("KubernetesParts = %q %q %v", ns, sa, ok)
	}
	if _, _, ok := KubernetesParts(spiffeid.RequireFromString("spiffe://cluster.local/ns/shop/sa/orders/x")); ok {
		t.Fatal("KubernetesParts accepted a longer path")
	}
	if _, err := Kubernetes(td, "", "orders"); err == nil {
		t.Fatal("empty namespace accepted")
	}
	// A dot in a name is a literal dot, never a pattern.
	dotted, _ := Kubernetes(td, "shop", "a.b")
	other, _ := Kubernetes(td, "shop", "axb")
	if dotted == other {
		t.Fatal("a.b and axb must be different identities")
	}
}
