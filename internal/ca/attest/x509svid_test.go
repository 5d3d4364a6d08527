package attest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testpki"
)

func TestX509SVID(t *testing.T) {
	ca := testpki.New(t, "example.org")
	other := testpki.New(t, "example.org") // another root, same name
	now := time.Now()
	signed := func(change func(*x509.Certificate)) []*x509.Certificate {
		tmpl := ca.Leaf(orders)
		change(tmpl)
		chain, _ := ca.Sign(tmpl)
		return chain
	}
	tests := []struct {
		name    string
		chain   []*x509.Certificate
		private string // in the audit reason; "" for a grant
	}{
		{name: "valid", chain: ca.Issue(orders, time.Hour).Certificates},
		{name: "no certificate", chain: nil, private: "no client certificate"},
		{name: "wrong root", chain: other.Issue(orders, time.Hour).Certificates, private: "unknown authority"},
		{name: "expired", private: "expired", chain: signed(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(-2*time.Hour), now.Add(-time.Second)
		})},
		{name: "no clientAuth EKU", private: "key usage", chain: signed(func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		})},
		{name: "foreign trust domain", private: "no trust bundle", chain: testpki.New(t, "other.org").Issue("spiffe://other.org/ns/shop/sa/orders", time.Hour).Certificates},
	}
	a := attest.X509SVID{Bundles: ca.Bundle(), Now: func() time.Time { return now }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grant, err := a.Attest(context.Background(), attest.Request{Type: attest.TypeX509SVID, PeerCertificates: tt.chain})
			if tt.private == "" {
				if err != nil || grant.ID.String() != orders {
					t.Fatalf("Attest = %v, %v; want %s", grant.ID, err, orders)
				}
				if want := "x509_svid:" + pki.SerialString(tt.chain[0].SerialNumber); grant.Evidence != want {
					t.Fatalf("evidence %q, want %q", grant.Evidence, want)
				}
				return
			}
			var denied *attest.DeniedError
			if !errors.As(err, &denied) || !strings.Contains(denied.Reason, tt.private) {
				t.Fatalf("Attest = %v; want a denial with reason containing %q", err, tt.private)
			}
			if !strings.Contains(denied.Public, "renewal needs a valid X.509-SVID") {
				t.Fatalf("public message %q", denied.Public)
			}
		})
	}
}
