// Package tlsconf builds hopseal's TLS configurations. Certificates come from
// sources read at each handshake, so rotation never rebuilds a listener, and
// peers are verified as X.509-SVIDs in VerifyConnection.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/pki"
)

// NextProto is the ALPN protocol of hopseal's mesh connections; captures
// recognise mesh traffic by it.
const NextProto = "hopseal/1"

// Authorizer decides whether a verified peer identity may be talked to.
type Authorizer func(peer spiffeid.ID) error

// AuthorizeID accepts exactly one identity.
func AuthorizeID(want spiffeid.ID) Authorizer {
	return func(peer spiffeid.ID) error {
		if peer != want {
			return fmt.Errorf("tlsconf: peer is %s, want %s", peer, want)
		}
		return nil
	}
}

// AuthorizeOneOf accepts exactly the identities listed (a Service whose
// endpoints run as several service accounts).
func AuthorizeOneOf(want ...spiffeid.ID) Authorizer {
	if len(want) == 1 {
		return AuthorizeID(want[0])
	}
	return func(peer spiffeid.ID) error {
		if !slices.Contains(want, peer) {
			return fmt.Errorf("tlsconf: peer is %s, want one of %v", peer, want)
		}
		return nil
	}
}

// AuthorizeAny accepts any verified identity; authorization happens later.
func AuthorizeAny() Authorizer { return func(spiffeid.ID) error { return nil } }

// Clock returns the time used to check certificate validity.
type Clock func() time.Time

func base(now Clock) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		// Go orders these itself, hybrid post-quantum first; the list only
		// bounds the set. FIPS mode drops X25519 and keeps the hybrid.
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		// Resumption would skip re-verifying a peer after trust or policy
		// changed; every mesh connection does a full handshake.
		SessionTicketsDisabled: true,
		Time:                   now,
		// Full-size records from the first byte: fewer records, fewer syscalls.
		DynamicRecordSizingDisabled: true,
	}
}

// MTLSServer accepts only clients with a valid SVID that authorize accepts.
func MTLSServer(svids x509svid.Source, bundles x509bundle.Source, authorize Authorizer, now Clock) *tls.Config {
	c := base(now)
	c.NextProtos = []string{NextProto}
	c.ClientAuth = tls.RequireAnyClientCert // chain checked in VerifyConnection
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return certificate(svids) }
	c.VerifyConnection = verifier(bundles, x509.ExtKeyUsageClientAuth, authorize, now)
	return c
}

// MTLSClient dials servers whose SVID authorize accepts, presenting ours.
func MTLSClient(svids x509svid.Source, bundles x509bundle.Source, authorize Authorizer, now Clock) *tls.Config {
	c := base(now)
	c.NextProtos = []string{NextProto}
	// Go's hostname check cannot apply to SPIFFE IDs; VerifyConnection, which
	// Go always calls, does the full chain and identity check instead.
	c.InsecureSkipVerify = true
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certificate(svids) }
	c.VerifyConnection = verifier(bundles, x509.ExtKeyUsageServerAuth, authorize, now)
	return c
}

// OptionalClientCert is for the CA's issuance endpoint: new workloads have no
// SVID yet, renewing ones present theirs and an attestor verifies it.
func OptionalClientCert(svids x509svid.Source, now Clock) *tls.Config {
	c := base(now)
	c.ClientAuth = tls.RequestClientCert
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return certificate(svids) }
	return c
}

// Client dials a server whose SVID authorize accepts, presenting a client
// certificate only when svids has one.
func Client(svids x509svid.Source, bundles x509bundle.Source, authorize Authorizer, now Clock) *tls.Config {
	c := MTLSClient(svids, bundles, authorize, now)
	c.NextProtos = nil
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if svids == nil {
			return &tls.Certificate{}, nil
		}
		cert, err := certificate(svids)
		if err != nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	return c
}

func certificate(svids x509svid.Source) (*tls.Certificate, error) {
	svid, err := svids.GetX509SVID()
	if err != nil {
		return nil, fmt.Errorf("tlsconf: no SVID to present: %w", err)
	}
	cert := &tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, c := range svid.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}

func verifier(bundles x509bundle.Source, usage x509.ExtKeyUsage, authorize Authorizer, now Clock) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tlsconf: peer presented no certificate")
		}
		id, err := pki.VerifySVID(cs.PeerCertificates, bundles, usage, now())
		if err != nil {
			return err
		}
		return authorize(id)
	}
}

// PeerID returns the SPIFFE ID of a verified peer.
func PeerID(cs tls.ConnectionState) (spiffeid.ID, error) {
	if len(cs.PeerCertificates) == 0 {
		return spiffeid.ID{}, errors.New("tlsconf: no peer certificate")
	}
	return x509svid.IDFromCert(cs.PeerCertificates[0])
}

// Describe names the negotiated parameters for logs.
func Describe(cs tls.ConnectionState) (version, cipher, group string) {
	return tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID.String()
}
