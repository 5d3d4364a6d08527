package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// appTLS is a server's own TLS: a certificate for name from ca.
func (e *env) appTLS(ca *testpki.CA, file, name string) *tls.Config {
	e.t.Helper()
	certPath, keyPath := e.webCert(ca, file, x509.ExtKeyUsageServerAuth, name)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}
}

// clientFor dials addr for every request and trusts only ca's root.
func clientFor(t *testing.T, addr string, ca *testpki.CA, prefix func(net.Conn) []byte) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	return httpsClient(t, addr, roots, true, prefix)
}

// The client's TLS reaches the app untouched: the client verifies the
// app's own certificate, which the gateway has no key for.
func TestPassthrough(t *testing.T) {
	e := newEnv(t)
	appCA := testpki.New(t, "app.test")
	pay := e.meshServer("spiffe://demo.local/ns/pay/sa/pay", gwID, e.appTLS(appCA, "pay", "pay.example.com"), echo("pay"))
	g := e.start(fmt.Sprintf(`listeners:
  - name: https
    listen: 127.0.0.1:0
    routes:
      - hostname: pay.example.com
        mode: passthrough
        backend: {address: %s, server_id: spiffe://demo.local/ns/pay/sa/pay}
`, pay.Addr))
	c := clientFor(t, g.addr("https"), appCA, nil)
	resp, body := get(t, c, "https://pay.example.com/charge")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "pay HTTP/2.0 /charge") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if leaf := resp.TLS.PeerCertificates[0]; leaf.Issuer.String() != appCA.Intermediate.Subject.String() {
		t.Errorf("client verified a certificate from %s, not the app's", leaf.Issuer)
	}
	if !strings.Contains(body, "xff= ") {
		t.Errorf("the app saw forwarding headers the gateway cannot have added: %q", body)
	}
	peers := pay.Peers()
	if len(peers) != 1 || peers[0].ID != gwID || peers[0].ALPN != tlsconf.HintProtocol("tls") {
		t.Errorf("destination saw %+v, want one mesh connection from %s hinting tls", peers, gwID)
	}
	c.CloseIdleConnections() // the connection's line comes when it ends
	line := g.waitLine(t, "connection", func(l map[string]any) bool { return l["mode"] == "passthrough" })
	if line["result"] != "ok" || line["sni"] != "pay.example.com" || line["peer_id"] != "spiffe://demo.local/ns/pay/sa/pay" || line["bytes_up"].(float64) < 100 {
		t.Errorf("connection line %v", line)
	}
}

func TestPassthroughBackendDown(t *testing.T) {
	e := newEnv(t)
	down := freeAddr(t)
	g := e.start(fmt.Sprintf(`listeners:
  - name: https
    listen: 127.0.0.1:0
    routes: [{hostname: pay.example.com, mode: passthrough, backend: {address: %s, server_id: spiffe://demo.local/pay}}]
`, down))
	_, err := tls.Dial("tcp", g.addr("https"), &tls.Config{ServerName: "pay.example.com", InsecureSkipVerify: true})
	if err == nil {
		t.Fatal("handshake succeeded with the backend down")
	}
	line := g.waitLine(t, "connection", nil)
	if line["result"] != "backend_error" || !strings.Contains(line["reason"].(string), down) {
		t.Errorf("connection line %v", line)
	}
	if n := g.metric(t, "hopseal_gateway_connections_total", map[string]string{"result": "backend_error", "mode": "passthrough"}); n != 1 {
		t.Errorf("backend_error count %v", n)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Reencrypt verifies the backend against ca_file and server_name; each
// route changes one of them.
func TestReencrypt(t *testing.T) {
	e := newEnv(t)
	legacyCA := testpki.New(t, "legacy.test")
	backend := httptest.NewUnstartedServer(echo("legacy"))
	backend.TLS = e.appTLS(legacyCA, "legacy-backend", "legacy.internal")
	backend.EnableHTTP2 = true
	backend.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	backend.StartTLS()
	t.Cleanup(backend.Close)
	addr := strings.TrimPrefix(backend.URL, "https://")
	cert, key := e.webCert(e.public, "front", x509.ExtKeyUsageServerAuth, "*.example.com")
	good, wrong := e.rootFile(legacyCA, "legacy-ca.pem"), e.rootFile(e.public, "public-ca.pem")
	route := func(host, ca, name string) string {
		return fmt.Sprintf("      - {hostname: %s, mode: reencrypt, tls: {cert_file: %s, key_file: %s}, backend: {address: '%s', ca_file: %s, server_name: %s}}\n", host, cert, key, addr, ca, name)
	}
	g := e.start("listeners:\n  - name: https\n    listen: 127.0.0.1:0\n    routes:\n" +
		route("legacy.example.com", good, "legacy.internal") +
		route("wrongca.example.com", wrong, "legacy.internal") +
		route("wrongname.example.com", good, "other.internal"))
	tests := []struct {
		host   string
		status int
		reason string
	}{
		{"legacy.example.com", 200, ""},
		{"wrongca.example.com", 502, "certificate signed by unknown authority"},
		{"wrongname.example.com", 502, "other.internal"},
	}
	// HTTP/2 clients go through net/http (HTTP/2 to the backend, which
	// offers it); HTTP/1.1 clients take the fast path (HTTP/1.1 to it).
	for _, h2 := range []bool{true, false} {
		c := e.client(g.addr("https"), h2, nil)
		proto := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
		for _, tt := range tests {
			t.Run(tt.host+" "+proto, func(t *testing.T) {
				resp, body := get(t, c, "https://"+tt.host+"/x")
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tt.status)
				}
				if tt.status == 200 {
					if !strings.HasPrefix(body, "legacy "+proto+" /x host=legacy.example.com xff=127.0.0.1 proto=https") {
						t.Errorf("backend saw %q", body)
					}
					return
				}
				line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["route"] == tt.host && l["proto"] == proto })
				if r, _ := line["reason"].(string); !strings.Contains(r, tt.reason) {
					t.Errorf("reason %q lacks %q", r, tt.reason)
				}
			})
		}
	}
}
