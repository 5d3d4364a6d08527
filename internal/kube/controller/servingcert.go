package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/pki"
)

// ServingCert is the webhook's TLS certificate, issued by the CA for the
// controller Service's DNS names and renewed at half its lifetime; servers
// read it per handshake, so renewal needs no restart.
type ServingCert struct {
	CA    *ca.CA
	Names []string
	TTL   time.Duration
	Log   *slog.Logger
	cur   atomic.Pointer[tls.Certificate]
}

// Issue gets a fresh certificate.
func (s *ServingCert) Issue() error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	chain, err := s.CA.IssueServerCert(s.Names, key.Public(), s.TTL)
	if err != nil {
		return fmt.Errorf("webhook serving certificate: %w", err)
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	s.cur.Store(cert)
	return nil
}

// GetCertificate serves the current certificate.
func (s *ServingCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.cur.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("webhook serving certificate not issued yet")
}

// Run renews the certificate at half its lifetime (a minute after a
// failure) until ctx ends. Issue must have succeeded once.
func (s *ServingCert) Run(ctx context.Context) error {
	for {
		leaf := s.cur.Load().Leaf
		wait := time.Until(leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err := s.Issue(); err != nil {
			s.Log.Error("renew the webhook's certificate; retrying in a minute", "error", err)
			retry := time.NewTimer(time.Minute)
			select {
			case <-ctx.Done():
				retry.Stop()
				return nil
			case <-retry.C:
			}
		}
	}
}
