package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// VerifySVID verifies a peer's chain as an X.509-SVID of a trust domain in
// bundles, valid at now and allowed for usage (serverAuth for servers,
// clientAuth for clients), and returns its SPIFFE ID. Unlike x509svid.Verify
// it enforces the extended key usage.
func VerifySVID(chain []*x509.Certificate, bundles x509bundle.Source, usage x509.ExtKeyUsage, now time.Time) (spiffeid.ID, error) {
	if len(chain) == 0 {
		return spiffeid.ID{}, errors.New("pki: peer sent no certificate")
	}
	leaf := chain[0]
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("pki: peer certificate is not an X.509-SVID: %w", err)
	}
	switch {
	case leaf.IsCA:
		return id, errors.New("pki: peer certificate is a CA certificate, not a leaf")
	case leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return id, errors.New("pki: peer certificate lacks the digitalSignature key usage")
	case leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return id, errors.New("pki: peer certificate has certificate-signing key usage")
	}
	bundle, err := bundles.GetX509BundleForTrustDomain(id.TrustDomain())
	if err != nil {
		return id, fmt.Errorf("pki: no trust bundle for peer %s: %w", id, err)
	}
	roots := x509.NewCertPool()
	for _, c := range bundle.X509Authorities() {
		roots.AddCert(c)
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{usage},
		CurrentTime:   now,
	})
	if err != nil {
		return id, fmt.Errorf("pki: verify peer %s: %w", id, err)
	}
	return id, nil
}
