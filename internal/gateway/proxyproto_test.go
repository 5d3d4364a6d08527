package gateway_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/pires/go-proxyproto"

	"github.com/hopseal/hopseal/internal/testpki"
)

// header formats a PROXY header claiming src as the client.
func header(t *testing.T, version byte, src string, local bool) func(net.Conn) []byte {
	return func(c net.Conn) []byte {
		h := proxyproto.HeaderProxyFromAddrs(version, mustTCPAddr(t, src), c.RemoteAddr())
		if local {
			h.Command = proxyproto.LOCAL
		}
		b, err := h.Format()
		if err != nil {
			t.Errorf("format PROXY header: %v", err)
		}
		return b
	}
}

func mustTCPAddr(t *testing.T, s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Behind a network load balancer, the PROXY header's source is the client
// in X-Forwarded-For and the logs; a connection without one is refused.
func TestProxyProtocol(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	api := e.meshServer("spiffe://demo.local/ns/shop/sa/api", gwID, nil, echo("api"))
	g := e.start(terminateFile(e, web, api, "    proxy_protocol: true\n"))
	tests := []struct {
		name             string
		prefix           func(net.Conn) []byte
		h2               bool
		wantXFF, wantLog string
	}{
		{"v1", header(t, 1, "203.0.113.7:4242", false), false, "203.0.113.7", "203.0.113.7:4242"},
		{"v2 over HTTP/2", header(t, 2, "[2001:db8::1]:5555", false), true, "2001:db8::1", "[2001:db8::1]:5555"},
		{"v2 LOCAL keeps the peer address", header(t, 2, "198.51.100.1:1", true), false, "127.0.0.1", "127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(g.addr("https"), tt.h2, tt.prefix)
			path := "/" + strings.ReplaceAll(tt.name, " ", "-")
			_, body := get(t, c, "https://shop.example.com"+path)
			if !strings.Contains(body, "xff="+tt.wantXFF+" ") {
				t.Errorf("backend saw %q, want X-Forwarded-For %s", body, tt.wantXFF)
			}
			line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["path"] == path })
			if !strings.HasPrefix(line["client"].(string), tt.wantLog) {
				t.Errorf("request line client %v, want %s", line["client"], tt.wantLog)
			}
			c.CloseIdleConnections()
			conn := g.waitLine(t, "connection", func(l map[string]any) bool { return strings.HasPrefix(l["client"].(string), tt.wantLog) })
			if conn["result"] != "ok" || !strings.HasPrefix(conn["source"].(string), "127.0.0.1:") {
				t.Errorf("connection line %v", conn)
			}
		})
	}
	t.Run("missing header", func(t *testing.T) {
		if got := exchange(t, g.addr("https"), clientHello(t, "shop.example.com")); len(got) != 0 {
			t.Fatalf("answered %x to a connection without a PROXY header", got)
		}
		line := g.waitLine(t, "connection", func(l map[string]any) bool { return l["result"] == "proxy_protocol_error" })
		if !strings.Contains(line["reason"].(string), "PROXY") {
			t.Errorf("line %v", line)
		}
		if n := g.metric(t, "hopseal_gateway_connections_total", map[string]string{"result": "proxy_protocol_error"}); n != 1 {
			t.Errorf("proxy_protocol_error count %v", n)
		}
	})
}

// The ClientHello behind a PROXY header is still routed and relayed whole.
func TestProxyProtocolPassthrough(t *testing.T) {
	e := newEnv(t)
	appCA := testpki.New(t, "app.test")
	pay := e.meshServer("spiffe://demo.local/pay", gwID, e.appTLS(appCA, "pay", "pay.example.com"), echo("pay"))
	g := e.start(fmt.Sprintf(`listeners:
  - name: https
    listen: 127.0.0.1:0
    proxy_protocol: true
    routes: [{hostname: pay.example.com, mode: passthrough, backend: {address: %s, server_id: spiffe://demo.local/pay}}]
`, pay.Addr))
	c := clientFor(t, g.addr("https"), appCA, header(t, 2, "192.0.2.9:7777", false))
	resp, body := get(t, c, "https://pay.example.com/x")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "pay HTTP/2.0 /x") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	c.CloseIdleConnections()
	line := g.waitLine(t, "connection", nil)
	if line["client"] != "192.0.2.9:7777" || line["mode"] != "passthrough" || line["result"] != "ok" {
		t.Errorf("connection line %v", line)
	}
}
