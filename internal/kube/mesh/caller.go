package mesh

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/hopseal/hopseal/internal/pki"
)

// CallerID is the SPIFFE ID of a gRPC call's client certificate, verified
// against bundles as an X.509-SVID of the mesh for client authentication.
// The controller's streams share a port with the CA's issuer, where client
// certificates are optional, so each stream checks its caller itself.
func CallerID(ctx context.Context, bundles x509bundle.Source, now time.Time) (spiffeid.ID, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return spiffeid.ID{}, errors.New("no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return spiffeid.ID{}, errors.New("a client certificate (the caller's SVID) is required")
	}
	id, err := pki.VerifySVID(info.State.PeerCertificates, bundles, x509.ExtKeyUsageClientAuth, now)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("client certificate: %w", err)
	}
	return id, nil
}
