// Package pki is pure X.509 for hopseal: CA and SVID templates, CSR checks,
// and SVID chain verification. It does no I/O.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Organization is the subject organization of every certificate hopseal issues.
const Organization = "hopseal"

// Backdate is subtracted from NotBefore so peers with a slightly slow clock
// accept a certificate the moment it is issued.
const Backdate = 30 * time.Second

// NewKey generates the ECDSA P-256 key every hopseal certificate uses.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate P-256 key: %w", err)
	}
	return k, nil
}

// NewRoot creates a self-signed root CA certificate for trust domain td.
// The root only ever signs intermediates (path length 1).
func NewRoot(td spiffeid.TrustDomain, key crypto.Signer, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{Organization}, CommonName: "hopseal root CA " + td.Name()},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		URIs:                  []*url.URL{td.ID().URL()},
	}
	return create(tmpl, tmpl, key.Public(), key)
}

// NewIntermediate creates the signing CA certificate for pub, signed by the
// root. Name constraints limit it to identities of td.
func NewIntermediate(td spiffeid.TrustDomain, root *x509.Certificate, rootKey crypto.Signer, pub crypto.PublicKey, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(ttl)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{Organization}, CommonName: "hopseal signing CA " + td.Name()},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{td.ID().URL()},
		PermittedURIDomains:   []string{td.Name()},
	}
	return create(tmpl, root, pub, rootKey)
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}
