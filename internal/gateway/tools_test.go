package gateway_test

import (
	"net"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

// openssl s_client, a TLS stack other than Go's, against the listener.
func TestOpenSSLClient(t *testing.T) {
	testenv.RequireTool(t, "openssl")
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	g := e.start(terminateFile(e, web, web, ""))
	ca := e.rootFile(e.public, "public-ca.pem")
	tests := []struct {
		name string
		args []string
		want []string // all in the output
	}{
		{"terminate with h2", []string{"-servername", "shop.example.com", "-CAfile", ca, "-alpn", "h2,http/1.1"},
			[]string{"Verify return code: 0 (ok)", "ALPN protocol: h2"}},
		{"TLS 1.2 client", []string{"-servername", "shop.example.com", "-CAfile", ca, "-tls1_2"},
			[]string{"Protocol  : TLSv1.2", "Verify return code: 0 (ok)"}},
		{"unknown server name", []string{"-servername", "nope.example.com"}, []string{"alert number 112"}},
		{"no server name", []string{"-noservername"}, []string{"alert number 112"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := testenv.Run(t, e.dir, "openssl", append([]string{"s_client", "-connect", g.addr("https")}, tt.args...)...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("openssl output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// curl over HTTP/2, through a redirect listener and with its own PROXY
// protocol header.
func TestCurl(t *testing.T) {
	testenv.RequireTool(t, "curl")
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	file := terminateFile(e, web, web, "") + `  - name: http
    listen: 127.0.0.1:0
    redirect_https: {port: 8443}
`
	file += strings.Replace(strings.Replace(terminateFile(e, web, web, "    proxy_protocol: true\n"), "listeners:\n", "", 1), "name: https", "name: lb", 1)
	g := e.start(file)
	ca := e.rootFile(e.public, "public-ca.pem")
	curl := func(listener, scheme string, extra ...string) string {
		_, port, _ := net.SplitHostPort(g.addr(listener))
		url := scheme + "://shop.example.com:" + port + "/curl"
		args := append([]string{"-sS", "-i", "--max-time", "10", "--cacert", ca, "--resolve", "shop.example.com:" + port + ":127.0.0.1"}, extra...)
		out, err := testenv.Run(t, e.dir, "curl", append(args, url)...)
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
		return out
	}
	out := curl("https", "https", "--http2")
	for _, w := range []string{"HTTP/2 200", "strict-transport-security: max-age=31536000; includeSubDomains", "web HTTP/1.1 /curl host=shop.example.com:", "xff=127.0.0.1 proto=https"} {
		if !strings.Contains(out, w) {
			t.Errorf("curl --http2 output lacks %q:\n%s", w, out)
		}
	}
	if out := curl("http", "http"); !strings.Contains(out, "HTTP/1.1 308") || !strings.Contains(out, "Location: https://shop.example.com:8443/curl") {
		t.Errorf("redirect:\n%s", out)
	}
	if out := curl("lb", "https", "--haproxy-protocol"); !strings.Contains(out, "HTTP/2 200") || !strings.Contains(out, "xff=127.0.0.1 ") {
		t.Errorf("curl --haproxy-protocol:\n%s", out)
	}
	line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["listener"] == "lb" })
	if !strings.HasPrefix(line["client"].(string), "127.0.0.1:") {
		t.Errorf("lb request line %v", line)
	}
}
