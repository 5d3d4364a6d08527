package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/testenv"
)

// plainClient sends every request to addr over plain HTTP.
func plainClient(t *testing.T, addr string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: wait, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestRedirect(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	api := e.meshServer("spiffe://demo.local/ns/shop/sa/api", gwID, nil, echo("api"))
	g := e.start(terminateFile(e, web, api, "") + `  - name: http
    listen: 127.0.0.1:0
    redirect_https: {port: 8443}
  - name: http443
    listen: 127.0.0.1:0
    redirect_https: {}
`)
	tests := []struct {
		listener, method, url string
		status                int
		location              string
	}{
		{"http", "GET", "http://shop.example.com/a/b?x=1&y=%2F", 308, "https://shop.example.com:8443/a/b?x=1&y=%2F"},
		{"http", "POST", "http://SHOP.example.com:80/form", 308, "https://shop.example.com:8443/form"},
		{"http", "GET", "http://other.example.com/", 404, ""},
		{"http443", "GET", "http://shop.example.com/a%20b", 308, "https://shop.example.com/a%20b"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url+" on "+tt.listener, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := plainClient(t, g.addr(tt.listener)).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
				t.Fatalf("%d Location %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location)
			}
		})
	}
	if p := web.Peers(); len(p) != 0 {
		t.Errorf("a redirect listener reached a backend: %v", p)
	}
	if n := g.metric(t, "hopseal_gateway_requests_total", map[string]string{"route": "shop.example.com", "code": "308"}); n != 3 {
		t.Errorf("308s counted: %v", n)
	}
	line := g.waitLine(t, "connection", func(l map[string]any) bool { return l["mode"] == gateway.ModeRedirect })
	if line["result"] != "ok" || line["protocol"] != "http1" {
		t.Errorf("redirect connection line %v", line)
	}
}

func TestAdminStatus(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	api := e.meshServer("spiffe://demo.local/ns/shop/sa/api", gwID, nil, echo("api"))
	g := e.start(terminateFile(e, web, api, "    trusted_forwarders: [10.0.0.0/16]\n") + fmt.Sprintf(`      - {hostname: pay.example.com, mode: passthrough, backend: {address: %s, server_id: spiffe://demo.local/pay}}
`, web.Addr))
	admin := "http://" + g.gw.AdminAddr().String()
	resp, body := get(t, plainClient(t, g.gw.AdminAddr().String()), admin+"/status")
	if resp.StatusCode != 200 {
		t.Fatalf("/status %d", resp.StatusCode)
	}
	var s gateway.Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	if s.SPIFFEID != gatewayID || s.SVIDNotAfter == nil || len(s.Listeners) != 1 || s.Listeners[0].Address != g.addr("https") {
		t.Fatalf("status %s", body)
	}
	shop, pay := s.Listeners[0].Routes[0], s.Listeners[0].Routes[1]
	if len(shop.Certificates) != 1 || shop.Certificates[0].Names[0] != "shop.example.com" || time.Until(shop.Certificates[0].NotAfter) <= 0 {
		t.Errorf("shop certificates %+v", shop.Certificates)
	}
	if tf := s.Listeners[0].TrustedForwarders; len(tf) != 1 || tf[0] != "10.0.0.0/16" {
		t.Errorf("trusted forwarders %q", tf)
	}
	if shop.HSTS == "" || len(shop.Backends) != 2 || shop.Backends[0].PathPrefix != "/api" || shop.Backends[0].Protocol != "http2" || shop.Backends[0].Weight != 1 {
		t.Errorf("shop route %+v", shop)
	}
	if pay.Mode != "passthrough" || len(pay.Certificates) != 0 || pay.Backends[0].ServerID != "spiffe://demo.local/pay" {
		t.Errorf("pay route %+v", pay)
	}
	if strings.Contains(body, "PRIVATE KEY") {
		t.Error("status shows key material")
	}
	if v := g.metric(t, "hopseal_gateway_certificate_expiry_seconds", map[string]string{"route": "shop.example.com"}); v <= 0 {
		t.Errorf("certificate expiry %v", v)
	}
	if v := g.metric(t, "hopseal_svid_expiry_seconds", nil); v <= 0 {
		t.Errorf("SVID expiry %v", v)
	}
	if resp, _ := get(t, plainClient(t, g.gw.AdminAddr().String()), admin+"/ready"); resp.StatusCode != 200 {
		t.Errorf("/ready %d", resp.StatusCode)
	}
}

// At shutdown the gateway stops accepting and reports not ready at once,
// lets the request in flight finish, and returns.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "finished")
	}))
	g := e.start(terminateFile(e, slow, slow, ""))
	addr := g.addr("https")
	result := make(chan string, 1)
	go func() {
		resp, err := e.client(addr, true, nil).Get("https://shop.example.com/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		result <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-arrived
	g.stop()
	testenv.Eventually(t, wait, "not ready", func() bool { return g.gw.Ready() != nil })
	testenv.Eventually(t, wait, "the listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case <-g.exited:
		t.Fatal("Run returned with a request in flight")
	default:
	}
	close(release)
	if got := <-result; got != "200 finished" {
		t.Fatalf("in-flight request: %s", got)
	}
	select {
	case <-g.exited:
	case <-time.After(wait):
		t.Fatal("Run did not return after the drain")
	}
	if g.err != nil {
		t.Fatalf("Run: %v", g.err)
	}
	if l := g.waitLine(t, "connection", nil); l["result"] != "ok" {
		t.Errorf("the drained connection's line %v", l)
	}
}

// Replaced certificate files are served after a reload, without a restart.
func TestCertificateReload(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	g := e.start(terminateFile(e, web, web, ""))
	serial := func() string {
		c, err := tls.Dial("tcp", g.addr("https"), &tls.Config{ServerName: "shop.example.com", RootCAs: e.publicRoots()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	newDir := t.TempDir()
	cert, key := e.webCert(e.public, "shop-next", x509.ExtKeyUsageServerAuth, "shop.example.com")
	for _, f := range [][2]string{{cert, "shop.crt"}, {key, "shop.key"}} {
		staged := filepath.Join(newDir, f[1])
		data, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(staged, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(staged, filepath.Join(e.dir, f[1])); err != nil {
			t.Fatal(err)
		}
	}
	g.gw.Reload()
	testenv.Eventually(t, wait, "the new certificate served", func() bool { return serial() != first })
}
