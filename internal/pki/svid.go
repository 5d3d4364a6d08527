package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// MaxCSRSize caps a CSR before it is parsed; a P-256 CSR is ~250 bytes.
const MaxCSRSize = 16 << 10

// LeafRequest is a checked request for an X.509-SVID.
type LeafRequest struct {
	ID        spiffeid.ID
	PublicKey crypto.PublicKey
	TTL       time.Duration
}

// CheckCSR parses a DER certificate request and checks what can be checked
// before the caller is attested: size, signature, key strength, and that no
// name other than a single SPIFFE URI is asked for. It returns the request.
func CheckCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 {
		return nil, errors.New("pki: empty CSR")
	}
	if len(der) > MaxCSRSize {
		return nil, fmt.Errorf("pki: CSR is %d bytes, over the %d-byte limit", len(der), MaxCSRSize)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("pki: CSR signature: %w", err)
	}
	if err := CheckPublicKey(csr.PublicKey); err != nil {
		return nil, err
	}
	switch {
	case len(csr.DNSNames) > 0, len(csr.IPAddresses) > 0, len(csr.EmailAddresses) > 0:
		return nil, errors.New("pki: CSR asks for DNS, IP or email names; an X.509-SVID carries only its SPIFFE ID")
	case len(csr.URIs) > 1:
		return nil, fmt.Errorf("pki: CSR asks for %d URI SANs; an X.509-SVID has exactly one", len(csr.URIs))
	}
	return csr, nil
}

// CheckCSRIdentity checks that a CSR asks for no identity other than id.
func CheckCSRIdentity(csr *x509.CertificateRequest, id spiffeid.ID) error {
	if len(csr.URIs) == 1 && csr.URIs[0].String() != id.String() {
		return fmt.Errorf("pki: CSR asks for %q but the attestation grants %q", csr.URIs[0], id)
	}
	return nil
}

// CheckPublicKey accepts ECDSA P-256/P-384 and RSA of at least 2048 bits.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("pki: weak or unsupported ECDSA curve %s; use P-256", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
		return fmt.Errorf("pki: RSA key of %d bits is too weak; use ECDSA P-256 (or RSA of 2048 bits or more)", k.N.BitLen())
	default:
		return fmt.Errorf("pki: unsupported key type %T; use ECDSA P-256", pub)
	}
}

// NewLeaf signs an X.509-SVID: one URI SAN, digitalSignature, serverAuth and
// clientAuth, never a CA. Its lifetime is capped by the issuer's.
func NewLeaf(req LeafRequest, issuer *x509.Certificate, issuerKey crypto.Signer, now time.Time) (*x509.Certificate, error) {
	if err := CheckPublicKey(req.PublicKey); err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := validity(issuer, now, req.TTL)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{Organization}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{req.ID.URL()},
	}
	return create(tmpl, issuer, req.PublicKey, issuerKey)
}

// NewServerCert signs a TLS server certificate for DNS names, for servers
// that clients outside the mesh verify by name (the API server calling the
// sidecar injector). It is not an SVID: serverAuth only, no URI SAN.
func NewServerCert(dnsNames []string, pub crypto.PublicKey, ttl time.Duration, issuer *x509.Certificate, issuerKey crypto.Signer, now time.Time) (*x509.Certificate, error) {
	if len(dnsNames) == 0 {
		return nil, errors.New("pki: a server certificate needs at least one DNS name")
	}
	if err := CheckPublicKey(pub); err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := validity(issuer, now, ttl)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{Organization}, CommonName: dnsNames[0]},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
	}
	return create(tmpl, issuer, pub, issuerKey)
}

// validity is a certificate's lifetime from now (backdated for clock skew)
// for ttl, within its issuer's.
func validity(issuer *x509.Certificate, now time.Time, ttl time.Duration) (notBefore, notAfter time.Time, err error) {
	notBefore, notAfter = now.Add(-Backdate), now.Add(ttl)
	if notBefore.Before(issuer.NotBefore) {
		notBefore = issuer.NotBefore
	}
	if notAfter.After(issuer.NotAfter) {
		notAfter = issuer.NotAfter
	}
	if !notAfter.After(now) {
		return notBefore, notAfter, fmt.Errorf("pki: issuer %q expired at %s", issuer.Subject.CommonName, issuer.NotAfter.Format(time.RFC3339))
	}
	return notBefore, notAfter, nil
}
