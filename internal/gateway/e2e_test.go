package gateway_test

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}

// The whole path with real processes: `hopseal ca serve`, a `hopseal proxy`
// in front of the apps, and `hopseal gateway` with its own identity from
// the CA. The destination proxy authorizes the gateway's SPIFFE ID like any
// peer's: routes to an inbound that does not allow it get 502.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t)
	exec := testenv.Exec{}
	ca := testenv.StartCA(t, testenv.CAOptions{Exec: exec, Dir: e.dir})

	app := httptest.NewServer(echo("app"))
	t.Cleanup(app.Close)
	appCA := testpki.New(t, "app.test")
	tlsApp := httptest.NewUnstartedServer(echo("tls-app"))
	tlsApp.TLS = e.appTLS(appCA, "pay", "pay.example.com")
	tlsApp.EnableHTTP2 = true
	tlsApp.StartTLS()
	t.Cleanup(tlsApp.Close)

	const webID = "spiffe://demo.local/ns/shop/sa/web"
	pf := ca.ProxyFile(t, webID)
	pf.Inbound = []config.InboundFile{
		{Name: "web", Forward: app.Listener.Addr().String(), Allow: []string{gatewayID}},
		{Name: "pay", Forward: tlsApp.Listener.Addr().String(), Allow: []string{gatewayID}},
		{Name: "closed", Forward: app.Listener.Addr().String(), Allow: []string{"spiffe://demo.local/ns/shop/sa/someone-else"}},
	}
	web := testenv.StartProxy(t, exec, e.dir, "web", pf)

	cert, key := e.webCert(e.public, "shop", x509.ExtKeyUsageServerAuth, "shop.example.com", "closed.example.com")
	yaml := fmt.Sprintf(`spiffe_id: %s
ca: {address: %s, bundle_file: %s, join_token_file: %s}
admin: {listen: 127.0.0.1:0}
data_dir: %s
listeners:
  - name: https
    listen: 127.0.0.1:0
    routes:
      - hostname: shop.example.com
        mode: terminate
        tls: {cert_file: %[6]s, key_file: %[7]s}
        hsts: {max_age: 365d}
        backends: [{path_prefix: /, address: %[8]s, server_id: %[11]s}]
      - hostname: closed.example.com
        mode: terminate
        tls: {cert_file: %[6]s, key_file: %[7]s}
        backends: [{path_prefix: /, address: %[10]s, server_id: %[11]s}]
      - hostname: pay.example.com
        mode: passthrough
        backend: {address: %[9]s, server_id: %[11]s}
`, gatewayID, ca.IssuerAddr, ca.BundleFile, ca.Token(t, gatewayID), filepath.Join(e.dir, "gw-data"),
		cert, key, web.Inbound["web"], web.Inbound["pay"], web.Inbound["closed"], webID)
	path := e.write("gateway.yaml", []byte(yaml))
	gw := exec.Start(t, e.dir, "gateway", "-c", path)
	listening := gw.WaitLogLines(t, "gateway listening", 1, wait)[0]
	gw.WaitLogLines(t, "gateway ready", 1, 30*time.Second)
	addr, admin := testenv.Str(listening, "listener.https"), testenv.Str(listening, "admin")

	c := e.client(addr, true, nil)
	resp, body := get(t, c, "https://shop.example.com/orders")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "app HTTP/1.1 /orders host=shop.example.com xff=127.0.0.1 proto=https") {
		t.Fatalf("terminate: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Errorf("HSTS %q", resp.Header.Get("Strict-Transport-Security"))
	}
	if resp, _ := get(t, c, "https://closed.example.com/"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("an inbound that does not allow the gateway answered %d, want 502", resp.StatusCode)
	}
	pc := clientFor(t, addr, appCA, nil)
	resp, body = get(t, pc, "https://pay.example.com/charge")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "tls-app HTTP/2.0 /charge") {
		t.Fatalf("passthrough: %d %q", resp.StatusCode, body)
	}
	pc.CloseIdleConnections() // a flow's line comes when it ends
	if v, _ := testenv.MetricValue(testenv.Scrape(t, admin), "hopseal_gateway_connections_total", map[string]string{"route": "pay.example.com", "result": "ok"}); v != 1 {
		t.Errorf("passthrough connections counted: %v", v)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "gw-data", "svid.pem")); err != nil {
		t.Errorf("the gateway's SVID was not kept in data_dir: %v", err)
	}

	gw.Stop()
	if err := gw.Wait(time.Second); err != nil {
		t.Fatalf("gateway exited with %v after SIGINT; want a clean exit", err)
	}
	// The destination proxy saw the gateway's identity and decided on it
	// (the gateway's pooled connection to "web" ended with it).
	for listener, decision := range map[string]string{"web": "allow", "pay": "allow", "closed": "deny"} {
		line := web.Connection(t, func(l map[string]any) bool { return l["listener"] == listener })
		if testenv.Str(line, "peer_id") != gatewayID || testenv.Str(line, "decision") != decision {
			t.Errorf("proxy %s line %v, want %s for %s", listener, line, decision, gatewayID)
		}
	}
}
