package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/pki"
)

// Files of a CA state directory. The server reads the bundle and the signing
// CA; it never reads root.key, which may live elsewhere (an offline root).
const (
	FileBundle     = "bundle.pem"
	FileRootCert   = "root.crt"
	FileRootKey    = "root.key"
	FileSigningCrt = "signing.crt"
	FileSigningKey = "signing.key"
	FileDB         = "hopseal.db"
	FileAdminSock  = "admin.sock"
)

// Defaults for a new CA.
const (
	DefaultRootTTL    = 10 * 365 * 24 * time.Hour
	DefaultSigningTTL = 365 * 24 * time.Hour
)

// Authority is what the CA server signs with.
type Authority struct {
	TrustDomain spiffeid.TrustDomain
	Roots       []*x509.Certificate // the trust bundle
	Signing     *x509.Certificate   // intermediate that signs leaves
	// Intermediates link Signing to a root when it is not signed by one
	// directly (a user-supplied CA that is itself an intermediate); they
	// are sent after Signing in every chain. Usually empty.
	Intermediates []*x509.Certificate
	SigningKey    crypto.Signer
}

// chain is what a leaf is sent with: the leaf, Signing, Intermediates.
func (a *Authority) chain(leaf *x509.Certificate) []*x509.Certificate {
	return append([]*x509.Certificate{leaf, a.Signing}, a.Intermediates...)
}

// InitOptions control the creation of a CA state directory.
type InitOptions struct {
	TrustDomain spiffeid.TrustDomain
	RootTTL     time.Duration
	SigningTTL  time.Duration
	// RootKeyPath, when set, receives the root key instead of the state
	// directory, so the root can be kept offline.
	RootKeyPath string
	Now         time.Time
}

// Exists reports whether dir already holds a CA.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, FileSigningCrt))
	return err == nil
}

// Init creates a new CA in dir: a root and a signing intermediate. It refuses
// to touch a directory that already holds CA files.
func Init(dir string, o InitOptions) error {
	if o.RootTTL == 0 {
		o.RootTTL = DefaultRootTTL
	}
	if o.SigningTTL == 0 {
		o.SigningTTL = DefaultSigningTTL
	}
	if o.SigningTTL > o.RootTTL {
		return fmt.Errorf("ca: signing CA lifetime %s exceeds the root's %s; shorten --signing-ttl", o.SigningTTL, o.RootTTL)
	}
	for _, f := range []string{FileBundle, FileRootCert, FileRootKey, FileSigningCrt, FileSigningKey} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("ca: %s already holds %s; refusing to overwrite an existing CA (move the directory away to start a new one)", dir, f)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ca: create state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("ca: make state directory private: %w", err)
	}
	rootKey, err := pki.NewKey()
	if err != nil {
		return err
	}
	root, err := pki.NewRoot(o.TrustDomain, rootKey, o.Now, o.RootTTL)
	if err != nil {
		return err
	}
	signKey, err := pki.NewKey()
	if err != nil {
		return err
	}
	signing, err := pki.NewIntermediate(o.TrustDomain, root, rootKey, signKey.Public(), o.Now, o.SigningTTL)
	if err != nil {
		return err
	}
	rootKeyPath := o.RootKeyPath
	if rootKeyPath == "" {
		rootKeyPath = filepath.Join(dir, FileRootKey)
	}
	if err := writeKey(rootKeyPath, rootKey); err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, FileSigningKey), signKey); err != nil {
		return err
	}
	// Certificates last: their presence marks a complete CA.
	for name, data := range map[string][]byte{
		FileBundle:   pki.EncodeCerts(root),
		FileRootCert: pki.EncodeCerts(root),
	} {
		if err := writeFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dir, FileSigningCrt), pki.EncodeCerts(signing), 0o644)
}

// Load reads a CA state directory and checks that it is whole and private.
func Load(dir string) (*Authority, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("ca: state directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ca: state directory %s has mode %04o; it holds private keys: run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	roots, err := readCerts(dir, FileBundle)
	if err != nil {
		return nil, err
	}
	signingCerts, err := readCerts(dir, FileSigningCrt)
	if err != nil {
		return nil, err
	}
	key, err := readKey(filepath.Join(dir, FileSigningKey))
	if err != nil {
		return nil, err
	}
	a := &Authority{Roots: roots, Signing: signingCerts[0], SigningKey: key}
	if len(a.Signing.URIs) != 1 {
		return nil, fmt.Errorf("ca: %s has no trust domain URI SAN", FileSigningCrt)
	}
	if a.TrustDomain, err = spiffeid.TrustDomainFromURI(a.Signing.URIs[0]); err != nil {
		return nil, fmt.Errorf("ca: %s: %w", FileSigningCrt, err)
	}
	if !pki.PublicKeysEqual(a.Signing.PublicKey, key.Public()) {
		return nil, fmt.Errorf("ca: %s does not match %s; restore both from the same backup", FileSigningKey, FileSigningCrt)
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	if _, err := a.Signing.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("ca: %s does not chain to a root in %s: %w", FileSigningCrt, FileBundle, err)
	}
	return a, nil
}

func readCerts(dir, name string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ca: %s is missing from %s; restore it from a backup (a new CA would need new trust everywhere)", name, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: read %s: %w", name, err)
	}
	certs, err := pki.ParseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", name, err)
	}
	return certs, nil
}

func readKey(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ca: signing key: %w (restore it from a backup)", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ca: %s has mode %04o; a private key must be readable by its owner only: run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca: read %s: %w", path, err)
	}
	k, err := pki.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", path, err)
	}
	return k, nil
}

func writeKey(path string, key crypto.Signer) error {
	data, err := pki.EncodeKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, data, 0o600)
}

// writeFile creates path exclusively, so an existing file is never replaced.
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("ca: create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ca: sync %s: %w", path, err)
	}
	return f.Close()
}
