package certs

import (
	"context"
	"crypto/tls"
	"time"
)

// Memory serves a certificate held in memory, such as one the controller
// streams from a Kubernetes Secret. It never changes: a renewed certificate
// comes with a new configuration, which builds a new Memory.
type Memory struct {
	cert *tls.Certificate
}

// NewMemory checks a PEM chain (leaf first) and private key as LoadPair
// does; name says where they came from, in errors.
func NewMemory(name string, chainPEM, keyPEM []byte, now time.Time) (*Memory, error) {
	c, err := LoadPair(chainPEM, keyPEM, name+" (certificate)", name+" (private key)", now)
	if err != nil {
		return nil, err
	}
	return &Memory{cert: c}, nil
}

// GetCertificate returns the certificate.
func (m *Memory) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.cert, nil }

// Certificates describes the leaf.
func (m *Memory) Certificates() []Info { return []Info{InfoOf(m.cert.Leaf)} }

// Run has nothing to keep current; it returns when ctx ends.
func (m *Memory) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

var (
	_ Source   = (*Memory)(nil)
	_ Reporter = (*Memory)(nil)
)
