package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/pki"
)

// publicName is the server name clients of the gateway topology ask for
// (SNI) and send as Host: the bench's requests already say "Host: app".
const publicName = "app"

// publicPKI is the certificate a public client verifies: of the three
// fronts on terminate routes, and of the app itself on passthrough routes.
// It comes from a CA of its own, as a public certificate would, apart from
// the mesh's.
type publicPKI struct {
	caFile, certFile, keyFile string
	pemFile                   string // certificate and key in one file (haproxy)
	roots                     *x509.CertPool
}

// newPublicPKI writes a CA and a certificate for publicName, both ECDSA
// P-256 as the mesh's SVIDs, into dir.
func newPublicPKI(dir string) (*publicPKI, error) {
	now := time.Now()
	caKey, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	root, err := pki.NewRoot(spiffeid.RequireTrustDomainFromString("public.bench.test"), caKey, now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	leaf, err := pki.NewServerCert([]string{publicName}, key.Public(), 24*time.Hour, root, caKey, now)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	p := &publicPKI{
		caFile: filepath.Join(dir, "public-ca.pem"), certFile: filepath.Join(dir, "public.crt"),
		keyFile: filepath.Join(dir, "public.key"), pemFile: filepath.Join(dir, "public.pem"),
		roots: x509.NewCertPool(),
	}
	p.roots.AddCert(root)
	certPEM := pki.EncodeCerts(leaf)
	for file, data := range map[string][]byte{
		p.caFile: pki.EncodeCerts(root), p.certFile: certPEM, p.keyFile: keyPEM,
		p.pemFile: append(append([]byte{}, certPEM...), keyPEM...),
	} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// clientConfig is the load generator's public TLS: TLS 1.3, HTTP/1.1 by
// ALPN, the certificate verified for publicName. It offers X25519 only:
// nginx and haproxy link OpenSSL 3.0, which has no X25519MLKEM768, and the
// three fronts should do the same key exchange.
func (p *publicPKI) clientConfig() *tls.Config {
	return &tls.Config{
		RootCAs:          p.roots,
		ServerName:       publicName,
		NextProtos:       []string{"http/1.1"},
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
	}
}

// clientTLS completes a TLS handshake over c, within 10 s.
func clientTLS(c net.Conn, conf *tls.Config) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc := tls.Client(c, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", c.RemoteAddr(), err)
	}
	return tc, nil
}

// negotiated describes a TLS connection's version, AEAD and key exchange.
func negotiated(cs tls.ConnectionState) string {
	return fmt.Sprintf("%s, %s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID)
}

// appListener listens on args[0]: plain TCP, or TLS 1.3 with the
// certificate and key files args[1] and args[2] (the app behind passthrough
// routes serves its own TLS).
func appListener(args []string) (net.Listener, error) {
	if len(args) != 1 && len(args) != 3 {
		return nil, fmt.Errorf("-serve-app ADDR [CERT_FILE KEY_FILE]: got %d arguments", len(args))
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil || len(args) == 1 {
		return ln, err
	}
	cert, err := tls.LoadX509KeyPair(args[1], args[2])
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("app certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
	return tls.NewListener(ln, conf), nil
}

// startTLSApp runs this program as the app, serving TLS with the public
// certificate on a free loopback port.
func startTLSApp(pub *publicPKI) (*proc, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	a, err := start("/", nil, exe, "-serve-app", "127.0.0.1:0", pub.certFile, pub.keyFile)
	if err != nil {
		return nil, "", err
	}
	a.name = "app (TLS)"
	line, err := a.textLine(context.Background(), "app listening ", readyWait)
	if err != nil {
		a.stop()
		return nil, "", err
	}
	return a, strings.TrimPrefix(line, "app listening "), nil
}
