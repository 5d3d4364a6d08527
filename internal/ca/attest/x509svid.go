package attest

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"

	"github.com/hopseal/hopseal/internal/pki"
)

// TypeX509SVID renews an identity: the caller proves it with a valid SVID
// of this trust domain presented as its TLS client certificate.
const TypeX509SVID = "x509_svid"

// X509SVID grants the identity of a currently valid SVID.
type X509SVID struct {
	Bundles x509bundle.Source
	Now     func() time.Time
}

func (X509SVID) Type() string { return TypeX509SVID }

func (a X509SVID) Attest(_ context.Context, req Request) (Grant, error) {
	const public = "renewal needs a valid X.509-SVID of this trust domain as the TLS client certificate"
	if len(req.PeerCertificates) == 0 {
		return Grant{}, denied(public, "no client certificate presented")
	}
	id, err := pki.VerifySVID(req.PeerCertificates, a.Bundles, x509.ExtKeyUsageClientAuth, a.Now())
	if err != nil {
		return Grant{}, denied(public, "%v", err)
	}
	return Grant{ID: id, Evidence: "x509_svid:" + pki.SerialString(req.PeerCertificates[0].SerialNumber)}, nil
}
