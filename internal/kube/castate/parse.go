package castate

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/pki"
)

// trustDomainError is a Secret of another trust domain: never replaced.
type trustDomainError struct{ error }

func (e *trustDomainError) Unwrap() error { return e.error }

// parseState reads and checks the CA Secret, the way ca.Load checks a
// state directory. Errors name the Secret and the key, never key material.
func parseState(data map[string][]byte, o Options) (*state, error) {
	ref := o.ref()
	roots, err := certsAt(data, ref, KeyBundle)
	if err != nil {
		return nil, err
	}
	chain, err := certsAt(data, ref, KeyCert)
	if err != nil {
		return nil, err
	}
	key, err := keyAt(data, ref, KeyKey)
	if err != nil {
		return nil, err
	}
	st := &state{roots: roots, signing: chain[0], links: chain[1:], key: key}
	if !pki.PublicKeysEqual(st.signing.PublicKey, key.Public()) {
		return nil, keyErr(ref, KeyKey, "does not match the certificate in %s; restore both from the same backup", KeyCert)
	}
	if len(st.signing.URIs) != 1 {
		return nil, keyErr(ref, KeyCert, "no trust domain URI SAN: not a hopseal signing CA")
	}
	td, err := spiffeid.TrustDomainFromURI(st.signing.URIs[0])
	if err != nil {
		return nil, keyErr(ref, KeyCert, "%v", err)
	}
	if td != o.TrustDomain {
		return nil, &trustDomainError{keyErr(ref, KeyCert, "a CA of trust domain %q, not %q; configure trust domain %s, "+
			"or move the Secret away to start a new CA (which needs new trust everywhere)", td.Name(), o.TrustDomain.Name(), td.Name())}
	}
	if now := o.Now(); !now.Before(st.signing.NotAfter) {
		return nil, keyErr(ref, KeyCert, "the signing CA expired at %s; supply a root to issue a new one under, or move the Secret away to start a new CA",
			st.signing.NotAfter.UTC().Format(time.RFC3339))
	}
	if _, err := st.signing.Verify(verifyOptions(roots, st.links, o.Now())); err != nil {
		return nil, keyErr(ref, KeyCert, "does not chain to a root in %s at %s: %v", KeyBundle, o.Now().UTC().Format("2006-01-02T15:04:05Z"), err)
	}
	if err := st.parseRoot(data, ref); err != nil {
		return nil, err
	}
	return st, nil
}

// parseRoot reads root.crt and root.key, which come together or not at all.
func (st *state) parseRoot(data map[string][]byte, ref string) error {
	_, hasCert := data[KeyRootCrt]
	_, hasKey := data[KeyRootKey]
	if !hasCert && !hasKey {
		return nil
	}
	certs, err := certsAt(data, ref, KeyRootCrt)
	if err != nil {
		return err
	}
	if st.rootKey, err = keyAt(data, ref, KeyRootKey); err != nil {
		return err
	}
	st.rootCert = certs[0]
	if !pki.PublicKeysEqual(st.rootCert.PublicKey, st.rootKey.Public()) {
		return keyErr(ref, KeyRootKey, "does not match the certificate in %s; restore both from the same backup", KeyRootCrt)
	}
	if !contains(st.roots, st.rootCert) {
		return keyErr(ref, KeyRootCrt, "not in the trust bundle %s; add it there", KeyBundle)
	}
	return nil
}

func verifyOptions(roots, links []*x509.Certificate, now time.Time) x509.VerifyOptions {
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range links {
		opts.Intermediates.AddCert(c)
	}
	return opts
}

func certsAt(data map[string][]byte, ref, key string) ([]*x509.Certificate, error) {
	b, ok := data[key]
	if !ok {
		return nil, keyErr(ref, key, "missing")
	}
	certs, err := pki.ParseCerts(b)
	if err != nil {
		return nil, keyErr(ref, key, "%v", err)
	}
	return certs, nil
}

func keyAt(data map[string][]byte, ref, key string) (crypto.Signer, error) {
	b, ok := data[key]
	if !ok {
		return nil, keyErr(ref, key, "missing")
	}
	k, err := parseKey(b)
	if err != nil {
		return nil, keyErr(ref, key, "%v", err)
	}
	return k, nil
}

// parseKey accepts the private key PEM forms CA tools write: PKCS#8,
// SEC 1 EC and PKCS#1 RSA. Its errors never quote the input.
func parseKey(data []byte) (crypto.Signer, error) {
	if len(data) > pki.MaxPEMSize {
		return nil, fmt.Errorf("%d bytes, over the %d-byte limit", len(data), pki.MaxPEMSize)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found; want a PEM private key")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a private key of type %T cannot sign", k)
	}
	return s, nil
}

func keyErr(ref, key, format string, args ...any) error {
	return fmt.Errorf("castate: Secret %s, key %s: %s", ref, key, fmt.Sprintf(format, args...))
}
