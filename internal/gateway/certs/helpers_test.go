package certs

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

const wait = 10 * time.Second

// pair is a certificate chain and key in PEM, as an operator installs them.
type pair struct {
	leaf          *x509.Certificate
	certPEM, key  []byte
	intermediate  *x509.Certificate
	chainReversed []byte // intermediate first: a wrongly ordered file
}

// issue signs a web server certificate for names valid in [notBefore, notAfter).
func issue(t *testing.T, ca *testpki.CA, notBefore, notAfter time.Time, names ...string) pair {
	t.Helper()
	tmpl := ca.Leaf("spiffe://example.org/unused")
	tmpl.URIs, tmpl.DNSNames = nil, names
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	chain, key := ca.Sign(tmpl)
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		leaf: chain[0], certPEM: pki.EncodeCerts(chain...), key: keyPEM,
		intermediate: chain[1], chainReversed: pki.EncodeCerts(chain[1], chain[0]),
	}
}

func valid(t *testing.T, ca *testpki.CA) pair {
	now := time.Now()
	return issue(t, ca, now.Add(-time.Minute), now.Add(time.Hour), "shop.example.com")
}

// install replaces path atomically, as the reload package asks of writers.
func install(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// files writes p into a new directory and returns the two paths.
func files(t *testing.T, p pair) (certPath, keyPath string) {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "shop.crt"), filepath.Join(dir, "shop.key")
	install(t, certPath, p.certPEM)
	install(t, keyPath, p.key)
	return certPath, keyPath
}

// logs captures JSON log lines.
type logs struct {
	buf  testenv.Buffer
	seen int // waitFor looks only past the line it last matched
}

func (l *logs) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&l.buf, nil)) }

// waitFor waits for a log line, newer than the last one matched, that
// contains every part.
func (l *logs) waitFor(t *testing.T, parts ...string) {
	t.Helper()
	testenv.Eventually(t, wait, "a log line with "+strings.Join(parts, ", "), func() bool {
		all := l.buf.String()
		pos := l.seen
		for line := range strings.Lines(all[l.seen:]) {
			pos += len(line)
			found := strings.HasSuffix(line, "\n")
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				l.seen = pos
				return true
			}
		}
		return false
	})
}

// handshake serves TLS with config on a loopback socket and connects as a
// browser would (verifying against roots, SNI serverName). It returns the
// chain the client saw, or the client's error.
func handshake(t *testing.T, config *tls.Config, roots *x509.CertPool, serverName string, nextProtos ...string) ([]*x509.Certificate, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*tls.Conn).Handshake()
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(wait))
	c := tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: serverName, NextProtos: nextProtos})
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates, nil
}

func rootPool(ca *testpki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root)
	return p
}
