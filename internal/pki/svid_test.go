package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testpki"
)

func csr(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCheckCSR(t *testing.T) {
	p256, _ := pki.NewKey()
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	id, _ := url.Parse("spiffe://example.org/ns/shop/sa/orders")
	id2, _ := url.Parse("spiffe://example.org/ns/shop/sa/admin")
	good := csr(t, p256, &x509.CertificateRequest{})
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-3] ^= 0xff

	tests := []struct {
		name    string
		der     []byte
		wantErr string
	}{
		{name: "no SAN", der: good},
		{name: "the SPIFFE ID", der: csr(t, p256, &x509.CertificateRequest{URIs: []*url.URL{id}})},
		{name: "empty", der: nil, wantErr: "empty"},
		{name: "oversized", der: make([]byte, pki.MaxCSRSize+1), wantErr: "limit"},
		{name: "garbage", der: []byte("not a csr"), wantErr: "parse CSR"},
		{name: "bad signature", der: tampered, wantErr: "signature"},
		{name: "weak curve", der: csr(t, p224, &x509.CertificateRequest{}), wantErr: "weak"},
		{name: "weak RSA", der: csr(t, rsa1024, &x509.CertificateRequest{}), wantErr: "too weak"},
		{name: "DNS SAN", der: csr(t, p256, &x509.CertificateRequest{DNSNames: []string{"payments"}}), wantErr: "DNS, IP or email"},
		{name: "IP SAN", der: csr(t, p256, &x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}}), wantErr: "DNS, IP or email"},
		{name: "two URI SANs", der: csr(t, p256, &x509.CertificateRequest{URIs: []*url.URL{id, id2}}), wantErr: "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.CheckCSR(tt.der)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckCSR: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckCSR error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckCSRIdentity(t *testing.T) {
	k, _ := pki.NewKey()
	asked, _ := url.Parse("spiffe://example.org/ns/shop/sa/admin")
	req, err := pki.CheckCSR(csr(t, k, &x509.CertificateRequest{URIs: []*url.URL{asked}}))
	if err != nil {
		t.Fatal(err)
	}
	granted := spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/orders")
	if err := pki.CheckCSRIdentity(req, granted); err == nil {
		t.Fatal("CSR for another identity accepted")
	}
	if err := pki.CheckCSRIdentity(req, spiffeid.RequireFromString(asked.String())); err != nil {
		t.Fatal(err)
	}
}

func TestNewLeaf(t *testing.T) {
	ca := testpki.New(t, "example.org")
	k, _ := pki.NewKey()
	id := spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/orders")
	now := time.Now()
	leaf, err := pki.NewLeaf(pki.LeafRequest{ID: id, PublicKey: k.Public(), TTL: 24 * time.Hour}, ca.Intermediate, ca.IntKey, now)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.String():
		t.Errorf("URIs = %v", leaf.URIs)
	case leaf.IsCA:
		t.Error("leaf is a CA")
	case leaf.KeyUsage != x509.KeyUsageDigitalSignature:
		t.Errorf("KeyUsage = %v", leaf.KeyUsage)
	case len(leaf.ExtKeyUsage) != 2:
		t.Errorf("EKU = %v", leaf.ExtKeyUsage)
	case leaf.SerialNumber.BitLen() < 64 || leaf.SerialNumber.BitLen() > 128:
		t.Errorf("serial has %d bits", leaf.SerialNumber.BitLen())
	case len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0:
		t.Error("leaf has non-URI SANs")
	}
	// Lifetime is capped by the issuer's.
	long, err := pki.NewLeaf(pki.LeafRequest{ID: id, PublicKey: k.Public(), TTL: 1000 * time.Hour}, ca.Intermediate, ca.IntKey, now)
	if err != nil {
		t.Fatal(err)
	}
	if long.NotAfter.After(ca.Intermediate.NotAfter) {
		t.Errorf("leaf outlives its issuer: %v > %v", long.NotAfter, ca.Intermediate.NotAfter)
	}
	// Serials are unique.
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		l, _ := pki.NewLeaf(pki.LeafRequest{ID: id, PublicKey: k.Public(), TTL: time.Hour}, ca.Intermediate, ca.IntKey, now)
		s := l.SerialNumber.String()
		if seen[s] {
			t.Fatal("duplicate serial")
		}
		seen[s] = true
	}
	if _, err := pki.NewLeaf(pki.LeafRequest{ID: id, PublicKey: k.Public(), TTL: time.Hour}, ca.Intermediate, ca.IntKey, ca.Intermediate.NotAfter.Add(time.Minute)); err == nil {
		t.Error("issued from an expired intermediate")
	}
}

func FuzzCheckCSR(f *testing.F) {
	k, _ := pki.NewKey()
	id, _ := url.Parse("spiffe://example.org/ns/shop/sa/orders")
	f.Add(csr(f, k, &x509.CertificateRequest{}))
	f.Add(csr(f, k, &x509.CertificateRequest{URIs: []*url.URL{id}}))
	f.Add(csr(f, k, &x509.CertificateRequest{DNSNames: []string{"x"}}))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := pki.CheckCSR(der)
		if err != nil {
			return
		}
		// Whatever passes must be safe to sign: a strong key and at most the one URI.
		if pki.CheckPublicKey(req.PublicKey) != nil || len(req.URIs) > 1 || len(req.DNSNames) > 0 || len(req.IPAddresses) > 0 {
			t.Fatalf("CheckCSR accepted an unsafe request")
		}
	})
}

func TestNewServerCert(t *testing.T) {
	now := time.Now()
	td := spiffeid.RequireTrustDomainFromString("example.org")
	rootKey, _ := pki.NewKey()
	root, err := pki.NewRoot(td, rootKey, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.NewKey()
	names := []string{"hopseal-controller.hopseal-system.svc", "hopseal-controller.hopseal-system.svc.cluster.local"}
	cert, err := pki.NewServerCert(names, key.Public(), 24*time.Hour, root, rootKey, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	for _, name := range names {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: now}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "other.svc", Roots: pool, CurrentTime: now}); err == nil {
		t.Error("verified for a name it does not carry")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("usable as a client certificate")
	}
	if len(cert.URIs) != 0 || cert.IsCA {
		t.Errorf("URIs %v, IsCA %v; want a plain server certificate", cert.URIs, cert.IsCA)
	}
	if !cert.NotAfter.Equal(root.NotAfter) {
		t.Errorf("NotAfter %v; want capped at the issuer's %v", cert.NotAfter, root.NotAfter)
	}
	if _, err := pki.NewServerCert(nil, key.Public(), time.Hour, root, rootKey, now); err == nil {
		t.Error("a certificate without names was issued")
	}
}
