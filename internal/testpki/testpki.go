// Package testpki is an in-memory root → intermediate CA for tests.
package testpki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/pki"
)

// CA is a test trust domain with a root and an intermediate.
type CA struct {
	t            testing.TB
	TrustDomain  spiffeid.TrustDomain
	Root         *x509.Certificate
	RootKey      crypto.Signer
	Intermediate *x509.Certificate
	IntKey       crypto.Signer
}

// New creates a CA for trust domain td (e.g. "example.org").
func New(t testing.TB, td string) *CA {
	t.Helper()
	ca := &CA{t: t, TrustDomain: spiffeid.RequireTrustDomainFromString(td)}
	now := time.Now()
	var err error
	ca.RootKey = key(t)
	if ca.Root, err = pki.NewRoot(ca.TrustDomain, ca.RootKey, now, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ca.IntKey = key(t)
	if ca.Intermediate, err = pki.NewIntermediate(ca.TrustDomain, ca.Root, ca.RootKey, ca.IntKey.Public(), now, 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	return ca
}

// Bundle returns the trust bundle (the root).
func (ca *CA) Bundle() *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(ca.TrustDomain, []*x509.Certificate{ca.Root})
}

// Issue returns an SVID for id (a string SPIFFE ID) valid for ttl.
func (ca *CA) Issue(id string, ttl time.Duration) *x509svid.SVID {
	ca.t.Helper()
	k := key(ca.t)
	leaf, err := pki.NewLeaf(pki.LeafRequest{ID: spiffeid.RequireFromString(id), PublicKey: k.Public(), TTL: ttl}, ca.Intermediate, ca.IntKey, time.Now())
	if err != nil {
		ca.t.Fatal(err)
	}
	return &x509svid.SVID{ID: spiffeid.RequireFromString(id), Certificates: []*x509.Certificate{leaf, ca.Intermediate}, PrivateKey: k}
}

// Leaf returns a valid leaf template for id, to be altered by a test and
// signed with Sign.
func (ca *CA) Leaf(id string) *x509.Certificate {
	serial, _ := pki.NewSerial()
	u, _ := url.Parse(id)
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"test"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
	}
}

// Sign signs a template with the intermediate and returns the chain
// [leaf, intermediate] and the leaf's key.
func (ca *CA) Sign(tmpl *x509.Certificate) ([]*x509.Certificate, crypto.Signer) {
	ca.t.Helper()
	k := key(ca.t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Intermediate, k.Public(), ca.IntKey)
	if err != nil {
		ca.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return []*x509.Certificate{leaf, ca.Intermediate}, k
}

func key(t testing.TB) crypto.Signer {
	k, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
