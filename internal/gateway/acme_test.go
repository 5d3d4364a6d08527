package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

const obtainWait = 90 * time.Second

// TestACME: a gateway with an ACME route obtains its certificate from a
// real ACME server (pebble), whose validation authority connects back to
// the gateway's own listeners, then serves it: a client's handshake
// verifies against pebble's root and its request reaches the mesh
// backend. Each case changes one thing in the listeners.
func TestACME(t *testing.T) {
	testenv.RequireTool(t, "pebble", "pebble-challtestsrv")
	tests := []struct {
		name string
		// clientCA: the TLS listener requires a client certificate.
		clientCA bool
		// redirect: a redirect listener answers HTTP-01, and pebble's
		// TLS-ALPN-01 port is closed, so only HTTP-01 can succeed.
		redirect bool
	}{
		{name: "tls-alpn-01 on the route's listener"},
		{name: "tls-alpn-01 where client certificates are required", clientCA: true},
		{name: "http-01 on the redirect listener", redirect: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const host = "shop.example.com"
			e := newEnv(t)
			web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
			httpsAddr, httpAddr := testenv.FreePort(t), testenv.FreePort(t)
			tlsPort := portNum(t, httpsAddr)
			if tc.redirect {
				tlsPort = portNum(t, testenv.FreePort(t)) // nothing listens there
			}
			peb := testenv.StartPebble(t, testenv.PebbleOptions{TLSPort: tlsPort, HTTPPort: portNum(t, httpAddr)})
			lbCA := testpki.New(t, "lb.test")
			extra := ""
			if tc.clientCA {
				extra = "    client_ca_file: " + e.rootFile(lbCA, "lb-ca.pem") + "\n"
			}
			yaml := fmt.Sprintf(`listeners:
  - name: https
    listen: %s
%s    routes:
      - hostname: %s
        mode: terminate
        acme: {directory_url: %q, email: ops@example.com, ca_file: %s, storage_dir: %s}
        backends: [{path_prefix: /, address: %s, server_id: spiffe://demo.local/ns/shop/sa/web}]
`, httpsAddr, extra, host, peb.Directory, peb.RootsFile, filepath.Join(e.dir, "acme"), web.Addr)
			if tc.redirect {
				yaml += fmt.Sprintf("  - name: http\n    listen: %s\n    redirect_https: {}\n", httpAddr)
			}
			g := e.start(yaml)

			roots := peb.IssuingRoots(t)
			c := httpsClient(t, httpsAddr, roots, false, nil)
			if tc.clientCA {
				pair := loadPair(t, e, lbCA)
				c.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{pair}
			}
			testenv.Eventually(t, obtainWait, "a handshake verifying against pebble's root", func() bool {
				conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{RootCAs: roots, ServerName: host,
					Certificates: c.Transport.(*http.Transport).TLSClientConfig.Certificates})
				if err == nil {
					conn.Close()
				}
				return err == nil
			})
			resp, body := get(t, c, "https://"+host+"/cart")
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "web HTTP/1.1 /cart host="+host) {
				t.Fatalf("GET through the ACME route: %d %q", resp.StatusCode, body)
			}
			if issuer := resp.TLS.PeerCertificates[0].Issuer.CommonName; !strings.HasPrefix(issuer, "Pebble Intermediate CA") {
				t.Fatalf("served a certificate issued by %q, want pebble's intermediate", issuer)
			}
			challenged := func(l map[string]any) bool { return l["protocol"] == "acme-tls/1" && l["result"] == "ok" }
			if tc.redirect {
				challenged = func(l map[string]any) bool { return l["listener"] == "http" && l["mode"] == "redirect" }
			}
			if len(g.lines("connection", challenged)) == 0 {
				t.Fatalf("the gateway logged no challenge connection:\n%s", g.logs.String())
			}
			checkChallengeHello(t, httpsAddr, host)
			if tc.clientCA {
				checkStillRequired(t, httpsAddr, host, roots)
			}
			st := adminStatus(t, g.gw.AdminAddr().String())
			if certs := st.Listeners[0].Routes[0].Certificates; len(certs) != 1 || certs[0].Names[0] != host {
				t.Fatalf("/status lists the route's certificates as %+v", certs)
			}
		})
	}
}

// checkChallengeHello: with no challenge in progress, a hello offering
// only acme-tls/1 gets an alert, never a session.
func checkChallengeHello(t *testing.T, addr, host string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: host, NextProtos: []string{"acme-tls/1"}})
	if err == nil {
		conn.Close()
		t.Fatal("a hello offering only acme-tls/1 completed a handshake with no challenge in progress")
	}
}

// checkStillRequired: a client without a certificate is still refused.
func checkStillRequired(t *testing.T, addr, host string, roots *x509.CertPool) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: host, NextProtos: []string{"http/1.1"}})
	if err == nil {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(wait))
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		_, err = conn.Read(make([]byte, 1))
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") && !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("a client without a certificate: %v, want the listener to refuse it", err)
	}
}

func loadPair(t *testing.T, e *env, ca *testpki.CA) tls.Certificate {
	t.Helper()
	certPath, keyPath := e.webCert(ca, "lb", x509.ExtKeyUsageClientAuth, "lb.internal")
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func portNum(t *testing.T, addr string) int {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a.Port
}

// adminStatus fetches and decodes the gateway's /status.
func adminStatus(t *testing.T, admin string) gateway.Status {
	t.Helper()
	resp, body := get(t, plainClient(t, admin), "http://"+admin+"/status")
	var s gateway.Status
	if err := json.Unmarshal([]byte(body), &s); resp.StatusCode != 200 || err != nil {
		t.Fatalf("/status: %d %v\n%s", resp.StatusCode, err, body)
	}
	return s
}
