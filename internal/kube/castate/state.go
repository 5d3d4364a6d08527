package castate

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/pki"
)

// state is the content of the CA Secret.
type state struct {
	roots   []*x509.Certificate // trust bundle
	signing *x509.Certificate
	links   []*x509.Certificate // between signing and a root
	key     crypto.Signer
	// rootCert and rootKey: a root hopseal generated, else nil.
	rootCert *x509.Certificate
	rootKey  crypto.Signer
}

// newState makes a signing CA under root, or under a new root of hopseal's
// own when root is nil.
func newState(o Options, root *userRoot) (*state, error) {
	now := o.Now()
	st := &state{}
	var issuer *x509.Certificate
	var issuerKey crypto.Signer
	if root == nil {
		if o.SigningTTL > o.RootTTL {
			return nil, fmt.Errorf("castate: signing CA lifetime %s exceeds the root's %s; shorten the signing lifetime", o.SigningTTL, o.RootTTL)
		}
		k, err := pki.NewKey()
		if err != nil {
			return nil, err
		}
		if st.rootCert, err = pki.NewRoot(o.TrustDomain, k, now, o.RootTTL); err != nil {
			return nil, err
		}
		st.rootKey, st.roots = k, []*x509.Certificate{st.rootCert}
		issuer, issuerKey = st.rootCert, k
	} else {
		st.roots, st.links = root.anchors, root.links
		issuer, issuerKey = root.cert, root.key
	}
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	if st.signing, err = pki.NewIntermediate(o.TrustDomain, issuer, issuerKey, key.Public(), now, o.SigningTTL); err != nil {
		return nil, fmt.Errorf("castate: sign the signing CA: %w", err)
	}
	st.key = key
	if err := st.canIssue(o.TrustDomain, now); err != nil {
		if root != nil {
			return nil, fmt.Errorf("castate: Secret %s, key %s: this CA cannot issue SVIDs of trust domain %s: %w (check its name constraints and path length)",
				o.rootRef(), KeyCert, o.TrustDomain.Name(), err)
		}
		return nil, err
	}
	return st, nil
}

// rotated makes a signing CA under root. The bundle keeps the roots of the
// previous Secret data that are still valid, after root's own.
func rotated(o Options, root *userRoot, previous map[string][]byte) (*state, error) {
	next, err := newState(o, root)
	if err != nil {
		return nil, err
	}
	old, _ := pki.ParseCerts(previous[KeyBundle]) // unreadable: nothing to keep
	now := o.Now()
	for _, r := range old {
		if now.Before(r.NotAfter) && !contains(next.roots, r) {
			next.roots = append(next.roots, r)
		}
	}
	return next, nil
}

// canIssue signs a throwaway SVID and verifies it against the bundle, so a
// CA that cannot work is refused at start rather than at the first request.
func (st *state) canIssue(td spiffeid.TrustDomain, now time.Time) error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	id, err := spiffeid.FromSegments(td, "hopseal", "castate-check")
	if err != nil {
		return err
	}
	leaf, err := pki.NewLeaf(pki.LeafRequest{ID: id, PublicKey: key.Public(), TTL: time.Minute}, st.signing, st.key, now)
	if err != nil {
		return err
	}
	chain := append([]*x509.Certificate{leaf, st.signing}, st.links...)
	_, err = pki.VerifySVID(chain, x509bundle.FromX509Authorities(td, st.roots), x509.ExtKeyUsageClientAuth, now)
	return err
}

func (st *state) authority(td spiffeid.TrustDomain) *ca.Authority {
	return &ca.Authority{TrustDomain: td, Roots: st.roots, Signing: st.signing, Intermediates: st.links, SigningKey: st.key}
}

// data is the Secret's content; the package comment documents the keys.
func (st *state) data() map[string][]byte {
	key, _ := pki.EncodeKey(st.key) // a key made or parsed here always encodes
	d := map[string][]byte{
		KeyBundle: pki.EncodeCerts(st.roots...),
		KeyCert:   pki.EncodeCerts(append([]*x509.Certificate{st.signing}, st.links...)...),
		KeyKey:    key,
	}
	if st.rootCert != nil {
		d[KeyRootCrt] = pki.EncodeCerts(st.rootCert)
		d[KeyRootKey], _ = pki.EncodeKey(st.rootKey)
	}
	return d
}

func (st *state) secret(o Options) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: o.Name, Namespace: o.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name": "hopseal", "app.kubernetes.io/component": "ca",
				"app.kubernetes.io/managed-by": "hopseal",
			},
			Annotations: map[string]string{"hopseal.io/trust-domain": o.TrustDomain.Name()},
		},
		Type: SecretType,
		Data: st.data(),
	}
}

func contains(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}
