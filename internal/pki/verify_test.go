package pki_test

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testpki"
)

func TestVerifySVID(t *testing.T) {
	ca := testpki.New(t, "example.org")
	other := testpki.New(t, "example.org") // same name, different root
	foreign := testpki.New(t, "other.org")
	const id = "spiffe://example.org/ns/shop/sa/orders"
	now := time.Now()

	tests := []struct {
		name    string
		chain   func() []*x509.Certificate
		usage   x509.ExtKeyUsage
		wantErr string
	}{
		{name: "valid client", chain: func() []*x509.Certificate { c, _ := ca.Sign(ca.Leaf(id)); return c }, usage: x509.ExtKeyUsageClientAuth},
		{name: "valid server", chain: func() []*x509.Certificate { c, _ := ca.Sign(ca.Leaf(id)); return c }, usage: x509.ExtKeyUsageServerAuth},
		{name: "expired", usage: x509.ExtKeyUsageClientAuth, wantErr: "expired", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			l.NotBefore, l.NotAfter = now.Add(-2*time.Hour), now.Add(-time.Hour)
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "not yet valid", usage: x509.ExtKeyUsageClientAuth, wantErr: "not yet valid", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			l.NotBefore = now.Add(time.Hour)
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "wrong trust domain", usage: x509.ExtKeyUsageClientAuth, wantErr: "no trust bundle", chain: func() []*x509.Certificate {
			c, _ := foreign.Sign(foreign.Leaf("spiffe://other.org/ns/shop/sa/orders"))
			return c
		}},
		{name: "no URI SAN", usage: x509.ExtKeyUsageClientAuth, wantErr: "no URI SAN", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			l.URIs = nil
			l.DNSNames = []string{"orders.shop"}
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "two URI SANs", usage: x509.ExtKeyUsageClientAuth, wantErr: "more than one URI SAN", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			u, _ := url.Parse("spiffe://example.org/ns/shop/sa/admin")
			l.URIs = append(l.URIs, u)
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "CA certificate as leaf", usage: x509.ExtKeyUsageClientAuth, wantErr: "CA certificate", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			l.IsCA = true
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "intermediate presented as leaf", usage: x509.ExtKeyUsageClientAuth, wantErr: "CA certificate", chain: func() []*x509.Certificate {
			return []*x509.Certificate{ca.Intermediate}
		}},
		{name: "cert-signing key usage", usage: x509.ExtKeyUsageClientAuth, wantErr: "certificate-signing", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			l.KeyUsage |= x509.KeyUsageCertSign
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "chain to an unknown root", usage: x509.ExtKeyUsageClientAuth, wantErr: "unknown authority", chain: func() []*x509.Certificate {
			c, _ := other.Sign(other.Leaf(id))
			return c
		}},
		{name: "client without clientAuth EKU", usage: x509.ExtKeyUsageClientAuth, wantErr: "key usage", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			l.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "server without serverAuth EKU", usage: x509.ExtKeyUsageServerAuth, wantErr: "key usage", chain: func() []*x509.Certificate {
			l := ca.Leaf(id)
			l.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			c, _ := ca.Sign(l)
			return c
		}},
		{name: "missing intermediate", usage: x509.ExtKeyUsageClientAuth, wantErr: "unknown authority", chain: func() []*x509.Certificate {
			c, _ := ca.Sign(ca.Leaf(id))
			return c[:1]
		}},
		{name: "empty chain", usage: x509.ExtKeyUsageClientAuth, wantErr: "no certificate", chain: func() []*x509.Certificate { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pki.VerifySVID(tt.chain(), ca.Bundle(), tt.usage, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifySVID: %v", err)
				}
				if got.String() != id {
					t.Fatalf("ID = %s, want %s", got, id)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("VerifySVID error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// The intermediate's name constraints keep it inside its trust domain even if
// its key were misused.
func TestIntermediateNameConstraint(t *testing.T) {
	ca := testpki.New(t, "example.org")
	chain, _ := ca.Sign(ca.Leaf("spiffe://evil.org/ns/x/sa/y"))
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	inter := x509.NewCertPool()
	inter.AddCert(ca.Intermediate)
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err == nil || !strings.Contains(err.Error(), "constraint") {
		t.Fatalf("leaf for another trust domain verified: %v", err)
	}
}
