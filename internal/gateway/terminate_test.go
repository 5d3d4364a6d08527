package gateway_test

import (
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/tlsconf"
)

var gwID = spiffeid.RequireFromString(gatewayID)

// terminateFile is a listener with one terminate route and two mesh
// backends: / over HTTP/1.1 and /api over cleartext HTTP/2.
func terminateFile(e *env, web, api *meshServer, extra string) string {
	cert, key := e.webCert(e.public, "shop", x509.ExtKeyUsageServerAuth, "shop.example.com")
	return fmt.Sprintf(`listeners:
  - name: https
    listen: 127.0.0.1:0
%s    routes:
      - hostname: shop.example.com
        mode: terminate
        tls: {cert_file: %s, key_file: %s}
        hsts: {max_age: 365d, include_subdomains: true}
        backends:
          - {path_prefix: /, address: %s, server_id: spiffe://demo.local/ns/shop/sa/web}
          - {path_prefix: /api, address: %s, server_id: spiffe://demo.local/ns/shop/sa/api, protocol: http2}
`, extra, cert, key, web.Addr, api.Addr)
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, string(body)
}

func TestTerminate(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	api := e.meshServer("spiffe://demo.local/ns/shop/sa/api", gwID, nil, echo("api"))
	g := e.start(terminateFile(e, web, api, ""))
	base := "https://shop.example.com/"
	tests := []struct {
		name      string
		h2        bool
		path      string
		wantProto string // the client's protocol
		want      string // start of the backend's answer
	}{
		{"HTTP/1.1 to the default backend", false, "index.html", "HTTP/1.1", "web HTTP/1.1 /index.html"},
		{"HTTP/2 to the default backend", true, "index.html", "HTTP/2.0", "web HTTP/1.1 /index.html"},
		{"HTTP/1.1 to the http2 backend", false, "api/orders", "HTTP/1.1", "api HTTP/2.0 /api/orders"},
		{"HTTP/2 to the http2 backend", true, "api", "HTTP/2.0", "api HTTP/2.0 /api"},
		{"prefix matches whole segments", true, "apix", "HTTP/2.0", "web HTTP/1.1 /apix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, e.client(g.addr("https"), tt.h2, nil), base+tt.path)
			if resp.StatusCode != http.StatusOK || resp.Proto != tt.wantProto || !strings.HasPrefix(body, tt.want) {
				t.Fatalf("%s %d: %q, want %s and %q", resp.Proto, resp.StatusCode, body, tt.wantProto, tt.want)
			}
			for _, w := range []string{"host=shop.example.com", "xff=127.0.0.1 ", "proto=https", "fhost=shop.example.com"} {
				if !strings.Contains(body+" ", w) {
					t.Errorf("backend saw %q, lacking %q", body, w)
				}
			}
			if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=31536000; includeSubDomains" {
				t.Errorf("HSTS headers %q", got)
			}
		})
	}
	// Each destination saw the gateway's SPIFFE ID and the app protocol hint.
	for _, m := range []struct {
		srv  *meshServer
		hint string
	}{{web, "http1"}, {api, "http2"}} {
		peers := m.srv.Peers()
		if len(peers) == 0 {
			t.Fatalf("backend %s saw no connection", m.srv.Addr)
		}
		for _, p := range peers {
			if p.ID != gwID || p.ALPN != tlsconf.HintProtocol(m.hint) {
				t.Errorf("backend %s saw %+v, want %s with ALPN %s", m.srv.Addr, p, gwID, tlsconf.HintProtocol(m.hint))
			}
		}
	}
	line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["path"] == "/api/orders" })
	if line["route"] != "shop.example.com" || line["status"] != 200.0 || line["destination"] != api.Addr || !strings.HasPrefix(line["client"].(string), "127.0.0.1:") {
		t.Errorf("request log line %v", line)
	}
	if n := g.metric(t, "hopseal_gateway_requests_total", map[string]string{"route": "shop.example.com", "code": "200"}); n != float64(len(tests)) {
		t.Errorf("requests_total = %v, want %d", n, len(tests))
	}
	if n := g.metric(t, "hopseal_gateway_connections_total", map[string]string{"listener": "https", "route": "shop.example.com", "mode": "terminate", "result": "ok"}); n < 2 {
		t.Errorf("connections_total ok = %v, want at least one per client", n)
	}
}

// What the gateway answers itself: each case changes one thing in a good
// request.
func TestTerminateRefusals(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	other := e.meshServer("spiffe://demo.local/ns/shop/sa/api", spiffeid.RequireFromString("spiffe://demo.local/someone-else"), nil, echo("api"))
	g := e.start(terminateFile(e, web, other, ""))
	c := e.client(g.addr("https"), true, nil)
	tests := []struct {
		name   string
		host   string
		path   string
		status int
	}{
		{"good", "shop.example.com", "/a/b/", 200},
		{"Host differs from the server name", "pay.example.com", "/a", http.StatusMisdirectedRequest},
		{"dot segment", "shop.example.com", "/a/../api/x", http.StatusBadRequest},
		{"empty segment", "shop.example.com", "//api", http.StatusBadRequest},
		{"encoded slash", "shop.example.com", "/a%2Fb", http.StatusBadRequest},
		{"backend refuses the gateway", "shop.example.com", "/api/x", http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "https://shop.example.com"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.RawPath = tt.path // keep the path as written
			req.Host = tt.host
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status != 200 && strings.Contains(string(body), "tls:") {
				t.Errorf("internal error text sent to the client: %q", body)
			}
			if resp.Header.Get("Strict-Transport-Security") == "" {
				t.Error("no HSTS header on the gateway's own answer")
			}
		})
	}
	// The client's own forwarding headers are not believed.
	req, _ := http.NewRequest("GET", "https://shop.example.com/spoof", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "xff=127.0.0.1 proto=https fhost=shop.example.com") || strings.Contains(string(body), "6.6.6.6") {
		t.Errorf("spoofed forwarding headers reached the backend: %q", body)
	}
	line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["status"] == 502.0 })
	if line["reason"] == nil || line["destination"] != other.Addr {
		t.Errorf("502 line gives no cause or backend: %v", line)
	}
}
