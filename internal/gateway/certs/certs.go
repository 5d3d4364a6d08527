// Package certs provides the public certificates of the gateway's terminate
// and reencrypt routes: from files with hot reload (File) or from an ACME
// directory (ACMESource). Both serve through GetCertificate, so a renewal or
// a reload never rebuilds a listener.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// Source serves a route's public certificate; GetCertificate is a
// tls.Config.GetCertificate.
type Source interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Run keeps the certificate current (file reload, ACME renewals) and
	// returns when ctx ends.
	Run(ctx context.Context) error
}

// Reporter is implemented by every Source of this package: what the
// gateway's /status shows and what its expiry metric reads (for example a
// gauge of NotAfter as Unix seconds, read at scrape time).
type Reporter interface {
	Certificates() []Info
}

// Info describes a certificate in force. It holds no key material.
type Info struct {
	Names     []string  `json:"names"` // DNS names, then IP addresses, of the leaf
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"` // hex
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// InfoOf describes a leaf certificate.
func InfoOf(leaf *x509.Certificate) Info {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return Info{
		Names:     names,
		Issuer:    leaf.Issuer.String(),
		Serial:    hex.EncodeToString(leaf.SerialNumber.Bytes()),
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
	}
}

var (
	_ Source   = (*File)(nil)
	_ Reporter = (*File)(nil)
	_ Source   = (*ACMESource)(nil)
	_ Reporter = (*ACMESource)(nil)
)
