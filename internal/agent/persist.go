package agent

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/pki"
)

// Files in the agent's data directory.
const (
	fileSVID   = "svid.pem"
	fileKey    = "svid.key"
	fileBundle = "bundle.pem"
)

// save writes the SVID, key (0600) and bundle, each replaced atomically.
func (a *Agent) save(svid *x509svid.SVID, bundle *x509bundle.Bundle) error {
	dir := a.cfg.DataDir
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certs, key, err := svid.Marshal()
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{fileKey: key, fileSVID: certs, fileBundle: pki.EncodeCerts(bundle.X509Authorities()...)} {
		if err := writeAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

// load returns the persisted SVID if it is valid now for this trust domain.
func (a *Agent) load() (*x509svid.SVID, *x509bundle.Bundle, error) {
	dir := a.cfg.DataDir
	if dir == "" {
		return nil, nil, errors.New("no data directory")
	}
	svid, err := x509svid.Load(filepath.Join(dir, fileSVID), filepath.Join(dir, fileKey))
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, fileBundle))
	if err != nil {
		return nil, nil, err
	}
	roots, err := pki.ParseCerts(data)
	if err != nil {
		return nil, nil, err
	}
	bundle := x509bundle.FromX509Authorities(a.cfg.TrustDomain, roots)
	if _, err := pki.VerifySVID(svid.Certificates, bundle, x509.ExtKeyUsageClientAuth, a.clock.Now()); err != nil {
		return nil, nil, err
	}
	if !a.cfg.ExpectedID.IsZero() && svid.ID != a.cfg.ExpectedID {
		return nil, nil, fmt.Errorf("persisted SVID is %s, configured identity is %s", svid.ID, a.cfg.ExpectedID)
	}
	return svid, bundle, nil
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
