package install_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/pki"
)

// newRoot makes a root of trust domain cluster.local valid from notBefore
// for ttl.
func newRoot(t *testing.T, notBefore time.Time, ttl time.Duration) *x509.Certificate {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := pki.NewRoot(spiffeid.RequireTrustDomainFromString("cluster.local"), key, notBefore, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func rootPEM(t *testing.T) []byte {
	return pki.EncodeCerts(newRoot(t, time.Now().Add(-time.Minute), 24*time.Hour))
}
