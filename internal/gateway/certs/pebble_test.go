package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

// pebble is a running ACME test CA whose validation authority resolves
// every name to 127.0.0.1 and checks challenges on the given ports.
type pebble struct {
	proc      *testenv.Proc
	directory string // ACME directory URL
	rootsFile string // PEM roots for pebble's own HTTPS
	mgmt      string // management API base URL
	client    *http.Client
}

// startPebble runs pebble-challtestsrv as pebble's DNS server and pebble
// itself, with pebble's HTTPS certificate issued by a test CA.
func startPebble(t *testing.T, tlsPort, httpPort int) *pebble {
	t.Helper()
	testenv.RequireTool(t, "pebble", "pebble-challtestsrv")
	dir := t.TempDir()
	dns, dnsMgmt := testenv.FreePort(t), testenv.FreePort(t)
	testenv.Start(t, dir, "pebble-challtestsrv", "-dns01", dns, "-management", dnsMgmt,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	testenv.WaitDial(t, dnsMgmt, wait)

	ca := testpki.New(t, "example.org")
	tmpl := ca.Leaf("spiffe://example.org/unused")
	tmpl.URIs, tmpl.DNSNames, tmpl.IPAddresses = nil, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	chain, key := ca.Sign(tmpl)
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &pebble{rootsFile: filepath.Join(dir, "roots.pem")}
	writeFile(t, filepath.Join(dir, "cert.pem"), pki.EncodeCerts(chain...))
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	writeFile(t, p.rootsFile, pki.EncodeCerts(ca.Root))

	listen, mgmt := testenv.FreePort(t), testenv.FreePort(t)
	config, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": "cert.pem", "privateKey": "key.pem",
		"httpPort": httpPort, "tlsPort": tlsPort,
	}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "pebble.json"), config)
	// No artificial validation delay; no random nonce rejections, so a
	// failure here is hopseal's.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p.proc = testenv.Start(t, dir, "pebble", "-config", "pebble.json", "-dnsserver", dns)
	testenv.WaitDial(t, listen, wait)
	testenv.WaitDial(t, mgmt, wait)
	p.directory, p.mgmt = "https://"+listen+"/dir", "https://"+mgmt
	p.client = &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootPool(ca)}}}
	return p
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// issuingRoots returns pebble's root, which issued every certificate it
// gave out (fetched from its management API).
func (p *pebble) issuingRoots(t *testing.T) *x509.CertPool {
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

// frontDoor stands in for the gateway's listeners: a TLS listener whose
// certificates come from the current source and which offers ACMETLS1,
// and an HTTP listener that mounts its HTTPHandler.
type frontDoor struct {
	tlsLn, httpLn net.Listener
	src           atomic.Pointer[ACMESource]
	challenges    atomic.Int64 // HTTP-01 requests the source answered
	wg            sync.WaitGroup
}

// openFrontDoor opens both listeners; serve starts answering on them.
func openFrontDoor(t *testing.T) *frontDoor {
	t.Helper()
	d := &frontDoor{}
	var err error
	if d.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if d.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.tlsLn.Close(); d.httpLn.Close(); d.wg.Wait() })
	return d
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

func (d *frontDoor) serve() {
	config := &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return d.src.Load().GetCertificate(h) },
		NextProtos:     []string{"h2", "http/1.1", ACMETLS1},
	}
	d.wg.Go(func() {
		for {
			c, err := d.tlsLn.Accept()
			if err != nil {
				return
			}
			d.wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(wait))
				tls.Server(c, config).Handshake() // a challenge is answered by the handshake alone
			})
		}
	})
	srv := &http.Server{Handler: http.HandlerFunc(d.serveHTTP), ReadHeaderTimeout: wait}
	d.wg.Go(func() { srv.Serve(d.httpLn) })
}

func (d *frontDoor) serveHTTP(w http.ResponseWriter, r *http.Request) {
	fallthrough_ := false
	d.src.Load().HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fallthrough_ = true
		http.Redirect(w, r, "https://"+r.Host+r.URL.Path, http.StatusPermanentRedirect)
	})).ServeHTTP(w, r)
	if !fallthrough_ && strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
		d.challenges.Add(1)
	}
}
