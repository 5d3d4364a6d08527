package certs

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/reload"
)

// File serves a certificate and private key from two PEM files (the
// certificate file may hold the chain: leaf first, then its issuers). It
// reloads when either file changes. The pair in force is replaced only by a
// new pair that loads completely, so the files may be replaced one at a time
// in either order (or put back): until both match, the old pair stays and
// each refusal is logged with its reason.
type File struct {
	certPath, keyPath string
	log               *slog.Logger
	now               func() time.Time
	certW, keyW       *reload.Watcher
	cur               atomic.Pointer[tls.Certificate]

	mu      sync.Mutex // guards the latest content read from each file
	certPEM []byte
	keyPEM  []byte
	started bool // both files were read once; later reads load the pair
}

// NewFile loads the pair now and fails if a file is unreadable, the
// certificate has expired or is not valid PEM, or the key does not match.
// Run keeps it current. A nil log discards.
func NewFile(certFile, keyFile string, log *slog.Logger) (*File, error) {
	return newFile(certFile, keyFile, log, reload.DefaultInterval)
}

func newFile(certFile, keyFile string, log *slog.Logger, every time.Duration) (*File, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &File{certPath: certFile, keyPath: keyFile, log: log, now: time.Now}
	f.certW = reload.New(certFile, every, f.apply(&f.certPEM), log)
	f.keyW = reload.New(keyFile, every, f.apply(&f.keyPEM), log)
	if err := f.certW.Load(); err != nil {
		return nil, fmt.Errorf("certs: read the certificate file: %w", err)
	}
	if err := f.keyW.Load(); err != nil {
		return nil, fmt.Errorf("certs: read the private key file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.loadLocked()
	if err != nil {
		return nil, err
	}
	f.cur.Store(c)
	f.started = true
	return f, nil
}

// apply records a file's new content and, once started, loads the pair.
// It never fails: the watcher then always holds what was read last, so a
// file put back to an earlier version is read again. A pair that does not
// load is logged here and the pair in force stays.
func (f *File) apply(dst *[]byte) func([]byte) error {
	return func(data []byte) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		*dst = data
		if !f.started {
			return nil
		}
		c, err := f.loadLocked()
		if err != nil {
			f.log.Warn("certificate files do not form a valid pair; keeping the certificate in force",
				"cert_file", f.certPath, "key_file", f.keyPath, "err", err, "serial", InfoOf(f.cur.Load().Leaf).Serial)
			return nil
		}
		f.cur.Store(c)
		in := InfoOf(c.Leaf)
		f.log.Info("certificate reloaded", "cert_file", f.certPath, "names", in.Names, "serial", in.Serial, "not_after", in.NotAfter)
		return nil
	}
}

func (f *File) loadLocked() (*tls.Certificate, error) {
	return LoadPair(f.certPEM, f.keyPEM, f.certPath, f.keyPath, f.now())
}

// GetCertificate returns the pair in force, whatever the hello asks for:
// the gateway chose this source by SNI already.
func (f *File) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cur.Load(), nil
}

// Certificates describes the leaf in force.
func (f *File) Certificates() []Info {
	return []Info{InfoOf(f.cur.Load().Leaf)}
}

// Trigger reads both files now, even if they look unchanged (on SIGHUP).
func (f *File) Trigger() {
	f.certW.Trigger()
	f.keyW.Trigger()
}

// Run watches both files until ctx ends.
func (f *File) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []*reload.Watcher{f.certW, f.keyW} {
		wg.Go(func() { errs[i] = w.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// LoadPair parses a PEM certificate chain and private key and checks that
// they belong together, that the chain is in order and that the leaf has
// not expired at now. certName and keyName name the inputs in errors.
func LoadPair(certPEM, keyPEM []byte, certName, keyName string, now time.Time) (*tls.Certificate, error) {
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", certName, err)
	}
	leaf := chain[0]
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("certs: %s: the certificate expired at %s; install a renewed certificate", certName, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", keyName, err)
	}
	if !pki.PublicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, fmt.Errorf("certs: the private key in %s does not match the certificate in %s; install the key that belongs to this certificate", keyName, certName)
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c, nil
}

// parseKey parses the first private key block: PKCS#8, PKCS#1 (RSA) or
// SEC 1 (EC).
func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found; give a PEM file with a PRIVATE KEY block")
		}
		var k any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue // such as EC PARAMETERS before the key
		}
		if err != nil {
			return nil, fmt.Errorf("parse the %s block: %w", block.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a private key of type %T cannot sign", k)
		}
		return s, nil
	}
}

// parseChain returns the certificates of a PEM file, leaf first, checking
// that each is issued by the next one.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	chain, err := pki.ParseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%w; give a PEM file with only the leaf certificate first, then its issuers (the key goes in its own file)", err)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("certificate %d did not issue certificate %d; order the file leaf first, then each issuer: %w", i+2, i+1, err)
		}
	}
	return chain, nil
}
