package castate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/pki"
)

// userRoot is a user-supplied CA: hopseal's signing CA is signed by it.
type userRoot struct {
	cert *x509.Certificate // first certificate of tls.crt
	key  crypto.Signer
	// links lead from cert to a root: cert itself unless it is a root, then
	// the intermediates of tls.crt. They follow the signing CA in chains.
	links []*x509.Certificate
	// anchors are the roots: ca.crt, or the self-signed end of tls.crt.
	anchors []*x509.Certificate
}

func loadUserRoot(ctx context.Context, o Options) (*userRoot, error) {
	ref := o.rootRef()
	sec, err := o.Secrets.Secrets(o.Namespace).Get(ctx, o.RootSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("castate: Secret %s, named as the user-supplied CA, does not exist; create it with %s and %s of a CA certificate "+
			"(and %s with its root if %s does not end at one), or name no root to let hopseal make its own", ref, KeyCert, KeyKey, KeyBundle, KeyCert)
	}
	if err != nil {
		return nil, fmt.Errorf("castate: read Secret %s: %w", ref, err)
	}
	return parseUserRoot(sec.Data, ref, o.Now())
}

// parseUserRoot checks that the user's CA can be hopseal's root: a CA
// certificate, valid now, allowed to sign an intermediate, with its key,
// chaining to the roots that will form the trust bundle.
func parseUserRoot(data map[string][]byte, ref string, now time.Time) (*userRoot, error) {
	certs, err := certsAt(data, ref, KeyCert)
	if err != nil {
		return nil, err
	}
	key, err := keyAt(data, ref, KeyKey)
	if err != nil {
		return nil, err
	}
	r := &userRoot{cert: certs[0], key: key}
	if msg := checkSigningCA(r.cert, now); msg != "" {
		return nil, keyErr(ref, KeyCert, "%s", msg)
	}
	if !pki.PublicKeysEqual(r.cert.PublicKey, key.Public()) {
		return nil, keyErr(ref, KeyKey, "does not match the certificate in %s", KeyCert)
	}
	if _, ok := data[KeyBundle]; ok {
		if r.anchors, err = certsAt(data, ref, KeyBundle); err != nil {
			return nil, err
		}
	} else if top := certs[len(certs)-1]; selfSigned(top) {
		r.anchors = []*x509.Certificate{top}
	} else {
		return nil, keyErr(ref, KeyCert, "does not end at a self-signed root; add the root as %s", KeyBundle)
	}
	for _, c := range certs {
		if !contains(r.anchors, c) {
			r.links = append(r.links, c)
		}
	}
	if _, err := r.cert.Verify(verifyOptions(r.anchors, certs[1:], now)); err != nil {
		return nil, keyErr(ref, KeyCert, "does not chain to a root in %s: %v", KeyBundle, err)
	}
	return r, nil
}

// checkSigningCA says why c cannot sign hopseal's signing CA, or "".
func checkSigningCA(c *x509.Certificate, now time.Time) string {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return "not a CA certificate (basic constraints CA:FALSE or absent); hopseal signs its signing CA with it, so it must be a CA"
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		return "its key usage lacks keyCertSign, so it cannot sign certificates"
	case c.MaxPathLen == 0 && c.MaxPathLenZero:
		return "its path length 0 forbids the signing CA hopseal makes under it; reissue it with a path length of 1 or more, or none"
	case now.Before(c.NotBefore):
		return fmt.Sprintf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(c.NotAfter):
		return fmt.Sprintf("expired at %s; renew it", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

// signed reports whether signing was issued by this CA's key.
func (r *userRoot) signed(signing *x509.Certificate) bool {
	return bytes.Equal(signing.RawIssuer, r.cert.RawSubject) && signing.CheckSignatureFrom(r.cert) == nil
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}
