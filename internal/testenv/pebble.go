package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testpki"
)

// Pebble is a running ACME test CA (Debian's pebble) whose validation
// authority resolves every name to 127.0.0.1 (pebble-challtestsrv as its
// DNS server) and checks challenges on the ports given to StartPebble.
type Pebble struct {
	Proc      *Proc
	Directory string // the ACME directory URL
	RootsFile string // PEM roots for pebble's own HTTPS (an ACME client's CA file)
	mgmt      string // management API base URL
	client    *http.Client
}

// PebbleOptions are the challenge ports pebble's validation authority
// connects to on 127.0.0.1: the TLS listener (TLS-ALPN-01) and the HTTP
// listener (HTTP-01).
type PebbleOptions struct {
	TLSPort, HTTPPort int
	// Listen is pebble's directory address; default a free loopback port.
	Listen string
}

// StartPebble runs pebble-challtestsrv and pebble until test cleanup, with
// pebble's HTTPS certificate from a test CA written to RootsFile. It skips
// (fails under HOPSEAL_TEST_STRICT=1) without the pebble package.
func StartPebble(t testing.TB, o PebbleOptions) *Pebble {
	t.Helper()
	RequireTool(t, "pebble", "pebble-challtestsrv")
	const wait = 10 * time.Second
	dir := t.TempDir()
	dns, dnsMgmt := FreePort(t), FreePort(t)
	Start(t, dir, "pebble-challtestsrv", "-dns01", dns, "-management", dnsMgmt,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	WaitDial(t, dnsMgmt, wait)

	ca := testpki.New(t, "example.org")
	tmpl := ca.Leaf("spiffe://example.org/unused")
	tmpl.URIs, tmpl.DNSNames, tmpl.IPAddresses = nil, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	chain, key := ca.Sign(tmpl)
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pebble{RootsFile: filepath.Join(dir, "roots.pem")}
	writeFile(t, filepath.Join(dir, "cert.pem"), string(pki.EncodeCerts(chain...)), 0o600)
	writeFile(t, filepath.Join(dir, "key.pem"), string(keyPEM), 0o600)
	writeFile(t, p.RootsFile, string(pki.EncodeCerts(ca.Root)), 0o644)

	listen, mgmt := o.Listen, FreePort(t)
	if listen == "" {
		listen = FreePort(t)
	}
	config, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": "cert.pem", "privateKey": "key.pem",
		"httpPort": o.HTTPPort, "tlsPort": o.TLSPort,
	}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "pebble.json"), string(config), 0o600)
	// No artificial validation delay, no random nonce rejections: a
	// failure is then hopseal's.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p.Proc = Start(t, dir, "pebble", "-config", "pebble.json", "-dnsserver", dns)
	WaitDial(t, listen, wait)
	WaitDial(t, mgmt, wait)
	p.Directory, p.mgmt = "https://"+listen+"/dir", "https://"+mgmt
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	p.client = &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	return p
}

// IssuingRoots returns pebble's root, which issued every certificate it
// gave out (from its management API): what a client of the site trusts.
func (p *Pebble) IssuingRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble root: %s %v", resp.Status, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(body) {
		t.Fatalf("pebble root is not PEM: %q", body)
	}
	return pool
}
