package config_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/config"
)

const gatewayBaseline = `spiffe_id: spiffe://demo.local/ns/edge/sa/gateway
ca: {address: 127.0.0.1:18443, bundle_file: bundle.pem, join_token_file: gw.tok}
admin: {listen: 127.0.0.1:19190}
data_dir: ./gw-data
listeners:
  - name: https
    listen: :8443
    proxy_protocol: true
    routes:
      - hostname: Shop.example.com
        mode: terminate
        tls: {cert_file: shop.crt, key_file: shop.key}
        hsts: {max_age: 365d, include_subdomains: true}
        backends:
          - {path_prefix: /, address: 10.0.0.2:8080, server_id: spiffe://demo.local/ns/shop/sa/web}
          - {path_prefix: /api, address: 10.0.0.5:9090, server_id: spiffe://demo.local/ns/shop/sa/api, protocol: http2}
      - hostname: pay.example.com
        mode: passthrough
        backend: {address: 10.0.0.3:8443, server_id: spiffe://demo.local/ns/pay/sa/pay}
      - hostname: "*.legacy.example.com"
        mode: reencrypt
        tls: {cert_file: l.crt, key_file: l.key}
        backend: {address: 10.0.0.4:443, ca_file: legacy-ca.pem, server_name: legacy.internal}
  - name: lb
    listen: 127.0.0.1:9443
    client_ca_file: lb-ca.pem
    routes:
      - hostname: shop.example.com
        mode: terminate
        tls: {cert_file: shop.crt, key_file: shop.key}
        backends:
          - {path_prefix: /, address: 10.0.0.2:8080, server_id: spiffe://demo.local/ns/shop/sa/web}
  - name: http
    listen: :8080
    redirect_https: {port: 8443}
`

func TestParseGatewayBaseline(t *testing.T) {
	g, err := config.ParseGateway([]byte(gatewayBaseline))
	if err != nil {
		t.Fatal(err)
	}
	if g.ID.String() != "spiffe://demo.local/ns/edge/sa/gateway" || g.CAAddress != "127.0.0.1:18443" || g.DataDir != "./gw-data" || g.AdminListen != "127.0.0.1:19190" {
		t.Fatalf("identity and admin: %+v", g)
	}
	if len(g.Listeners) != 3 {
		t.Fatalf("%d listeners", len(g.Listeners))
	}
	https, lb, redirect := g.Listeners[0], g.Listeners[1], g.Listeners[2]
	if !https.ProxyProtocol || https.RedirectPort != 0 || len(https.Routes) != 3 || lb.ClientCAFile != "lb-ca.pem" {
		t.Fatalf("listeners: %+v %+v", https, lb)
	}
	if redirect.RedirectPort != 8443 || len(redirect.Routes) != 0 {
		t.Fatalf("redirect listener %+v", redirect)
	}
	shop := https.Routes[0]
	if shop.Hostname != "shop.example.com" || shop.Mode != config.Terminate || shop.CertFile != "shop.crt" {
		t.Errorf("terminate route %+v", shop)
	}
	if shop.HSTS == nil || shop.HSTS.Header() != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS %+v", shop.HSTS)
	}
	if len(shop.Backends) != 2 || shop.Backends[0].Protocol != config.HTTP1 || shop.Backends[1].Protocol != config.HTTP2 || shop.Backends[1].PathPrefix != "/api" {
		t.Errorf("backends %+v", shop.Backends)
	}
	pay := https.Routes[1]
	if pay.Mode != config.Passthrough || len(pay.Backends) != 1 || pay.Backends[0].ServerID.String() != "spiffe://demo.local/ns/pay/sa/pay" || pay.Backends[0].Protocol != "" {
		t.Errorf("passthrough route %+v", pay)
	}
	legacy := https.Routes[2]
	if legacy.Hostname != "*.legacy.example.com" || legacy.Backends[0].CAFile != "legacy-ca.pem" || legacy.Backends[0].ServerName != "legacy.internal" || !legacy.Backends[0].ServerID.IsZero() {
		t.Errorf("reencrypt route %+v", legacy)
	}
}

// Each case changes one thing in the baseline: old is replaced by new.
func TestParseGateway(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     []string // all in the error; none for a valid file
	}{
		{name: "unknown key", old: "    proxy_protocol: true", new: "    proxy_protocl: true", want: []string{"listeners[0].proxy_protocl (line 8)", "proxy_protocol"}},
		{name: "acme is not supported here", old: "tls: {cert_file: l.crt, key_file: l.key}", new: "tls: {acme: {}}", want: []string{"routes[2].tls.acme", "cert_file, key_file"}},
		{name: "no listeners", old: gatewayBaseline[strings.Index(gatewayBaseline, "listeners:"):], new: "listeners: []\n", want: []string{"listeners is empty"}},
		{name: "duplicate hostname", old: "hostname: pay.example.com", new: "hostname: shop.example.com",
			want: []string{`listeners[0].routes[1].hostname: "shop.example.com" is already used by listeners[0].routes[0].hostname`}},
		{name: "duplicate hostname differing in case", old: "hostname: pay.example.com", new: "hostname: SHOP.example.com", want: []string{"routes[1].hostname", "already used"}},
		{name: "same hostname on another listener", old: "hostname: pay.example.com", new: "hostname: other.example.com"},
		{name: "wildcard in the middle", old: `"*.legacy.example.com"`, new: `"legacy.*.example.com"`, want: []string{`routes[2].hostname: "legacy.*.example.com" has a wildcard that is not a leading label`}},
		{name: "partial wildcard label", old: `"*.legacy.example.com"`, new: `"*legacy.example.com"`, want: []string{"not a leading label"}},
		{name: "wildcard over a TLD", old: `"*.legacy.example.com"`, new: `"*.com"`, want: []string{`"*.com" is a wildcard over a top-level domain`}},
		{name: "bare wildcard", old: `"*.legacy.example.com"`, new: `"*"`, want: []string{"not a leading label"}},
		{name: "IP hostname", old: "hostname: pay.example.com", new: "hostname: 10.0.0.9", want: []string{`routes[1].hostname: "10.0.0.9" is an IP address`}},
		{name: "trailing dot", old: "hostname: pay.example.com", new: "hostname: pay.example.com.", want: []string{"ends with a dot; write pay.example.com"}},
		{name: "bad label", old: "hostname: pay.example.com", new: "hostname: pay-.example.com", want: []string{"is not a DNS name"}},
		{name: "missing hostname", old: "      - hostname: pay.example.com\n        mode: passthrough", new: "      - mode: passthrough", want: []string{"routes[1].hostname is required"}},
		{name: "missing mode", old: "        mode: passthrough\n", new: "", want: []string{"routes[1].mode is required"}},
		{name: "unknown mode", old: "mode: passthrough", new: "mode: tunnel", want: []string{`routes[1].mode: "tunnel" is not a route mode`}},
		{name: "passthrough with tls", old: "mode: passthrough\n", new: "mode: passthrough\n        tls: {cert_file: a, key_file: b}\n",
			want: []string{"routes[1].tls is set on a passthrough route, which never decrypts"}},
		{name: "passthrough with hsts", old: "mode: passthrough\n", new: "mode: passthrough\n        hsts: {max_age: 1d}\n", want: []string{"routes[1].hsts is set on a passthrough route"}},
		{name: "passthrough with protocol", old: "server_id: spiffe://demo.local/ns/pay/sa/pay}", new: "server_id: spiffe://demo.local/ns/pay/sa/pay, protocol: http2}",
			want: []string{`routes[1].backend.protocol: "http2" is set on a passthrough backend`}},
		{name: "passthrough with backends", old: "        backend: {address: 10.0.0.3:8443, server_id: spiffe://demo.local/ns/pay/sa/pay}",
			new:  "        backends: [{path_prefix: /, address: 10.0.0.3:8443, server_id: spiffe://demo.local/ns/pay/sa/pay}]",
			want: []string{"routes[1].backends is only for terminate routes", "routes[1].backend is required"}},
		{name: "passthrough under client_ca_file", old: "    client_ca_file: lb-ca.pem\n    routes:\n      - hostname: shop.example.com\n        mode: terminate",
			new: "    client_ca_file: lb-ca.pem\n    routes:\n      - hostname: shop.example.com\n        mode: passthrough", want: []string{`listeners[1].routes[0].mode: "passthrough" cannot check the client certificate`}},
		{name: "passthrough without server_id", old: "address: 10.0.0.3:8443, server_id: spiffe://demo.local/ns/pay/sa/pay", new: "address: 10.0.0.3:8443",
			want: []string{"routes[1].backend.server_id is required"}},
		{name: "reencrypt without ca_file", old: "ca_file: legacy-ca.pem, ", new: "", want: []string{"routes[2].backend.ca_file is required", "never skips verification"}},
		{name: "reencrypt with server_id", old: "ca_file: legacy-ca.pem,", new: "ca_file: legacy-ca.pem, server_id: spiffe://demo.local/x,",
			want: []string{`routes[2].backend.server_id: "spiffe://demo.local/x" is set on a reencrypt backend`}},
		{name: "reencrypt without tls", old: "        tls: {cert_file: l.crt, key_file: l.key}\n", new: "", want: []string{"routes[2].tls is required for a reencrypt route"}},
		{name: "reencrypt with wildcard server_name", old: "server_name: legacy.internal", new: "server_name: '*.internal'", want: []string{"routes[2].backend.server_name", "is a wildcard"}},
		{name: "reencrypt server_name defaults to the address", old: ", server_name: legacy.internal", new: ""},
		{name: "terminate without key_file", old: "tls: {cert_file: l.crt, key_file: l.key}", new: "tls: {cert_file: l.crt}", want: []string{"routes[2].tls.key_file is required"}},
		{name: "terminate with backend", old: "        backends:\n          - {path_prefix: /, address: 10.0.0.2:8080, server_id: spiffe://demo.local/ns/shop/sa/web}\n  - name: http",
			new:  "        backend: {address: 10.0.0.2:8080, server_id: spiffe://demo.local/ns/shop/sa/web}\n  - name: http",
			want: []string{"listeners[1].routes[0].backend is set on a terminate route", "listeners[1].routes[0].backends is empty"}},
		{name: "terminate backend with ca_file", old: "path_prefix: /api, address: 10.0.0.5:9090,", new: "path_prefix: /api, ca_file: x.pem, address: 10.0.0.5:9090,",
			want: []string{`routes[0].backends[1].ca_file: "x.pem" is set on a mesh backend`}},
		{name: "duplicate path prefix", old: "path_prefix: /api,", new: "path_prefix: /,", want: []string{`routes[0].backends[1].path_prefix: "/" is already used by listeners[0].routes[0].backends[0].path_prefix`}},
		{name: "weighted split", old: "path_prefix: /api,", new: "path_prefix: /, weight: 1,", want: []string{"backends[1].path_prefix", "set weight on each"}},
		{name: "weighted split with weights", old: "{path_prefix: /, address: 10.0.0.2:8080,",
			new: "{path_prefix: /, weight: 9, address: 10.0.0.9:8080, server_id: spiffe://demo.local/ns/shop/sa/canary}\n          - {path_prefix: /, weight: 1, address: 10.0.0.2:8080,"},
		{name: "all weights zero", old: "{path_prefix: /, address: 10.0.0.2:8080,", new: "{path_prefix: /, weight: 0, address: 10.0.0.2:8080,",
			want: []string{`backends[0].weight: "0" leaves path_prefix / no backend with a weight above 0`}},
		{name: "negative weight", old: "path_prefix: /api,", new: "path_prefix: /api, weight: -1,", want: []string{`backends[1].weight: "-1" is not a weight`}},
		{name: "weight on a passthrough backend", old: "address: 10.0.0.3:8443,", new: "address: 10.0.0.3:8443, weight: 2,", want: []string{"routes[1].backend.weight", "only for the backends of terminate routes"}},
		{name: "missing path prefix", old: "path_prefix: /api, ", new: "", want: []string{"routes[0].backends[1].path_prefix is required"}},
		{name: "relative path prefix", old: "path_prefix: /api,", new: "path_prefix: api,", want: []string{`"api" does not start with /`}},
		{name: "path prefix with dot segment", old: "path_prefix: /api,", new: "path_prefix: /a/../api,", want: []string{"is not a canonical path", "write /api"}},
		{name: "path prefix with trailing slash", old: "path_prefix: /api,", new: "path_prefix: /api/,", want: []string{"is not a canonical path"}},
		{name: "path prefix with escape", old: "path_prefix: /api,", new: "path_prefix: /a%2Fb,", want: []string{"holds a query, fragment, escape"}},
		{name: "unknown protocol", old: "protocol: http2", new: "protocol: grpc", want: []string{`routes[0].backends[1].protocol: "grpc" is not an app protocol`}},
		{name: "backend port zero", old: "address: 10.0.0.5:9090", new: "address: 10.0.0.5:0", want: []string{`backends[1].address: "10.0.0.5:0" has an invalid port`}},
		{name: "backend without host", old: "address: 10.0.0.3:8443", new: "address: ':8443'", want: []string{`routes[1].backend.address: ":8443" has no host`}},
		{name: "bad server_id", old: "spiffe://demo.local/ns/pay/sa/pay", new: "spiffe://demo.local", want: []string{"routes[1].backend.server_id", "names a whole trust domain"}},
		{name: "hsts in hours", old: "max_age: 365d", new: "max_age: 8760h"},
		{name: "hsts zero", old: "max_age: 365d", new: "max_age: 0s"},
		{name: "hsts not a duration", old: "max_age: 365d", new: "max_age: a year", want: []string{`hsts.max_age: "a year" is not a duration`}},
		{name: "hsts negative", old: "max_age: 365d", new: "max_age: -1d", want: []string{`hsts.max_age: "-1d"`}},
		{name: "hsts fractional seconds", old: "max_age: 365d", new: "max_age: 1.5s", want: []string{"whole seconds"}},
		{name: "hsts without max_age", old: "max_age: 365d, ", new: "", want: []string{"hsts.max_age is required"}},
		{name: "hsts preload", old: "include_subdomains: true}", new: "include_subdomains: true, preload: true}"},
		{name: "hsts preload without subdomains", old: "include_subdomains: true}", new: "include_subdomains: false, preload: true}", want: []string{"hsts.preload", "include_subdomains: true"}},
		{name: "hsts preload too short", old: "max_age: 365d, include_subdomains: true}", new: "max_age: 30d, include_subdomains: true, preload: true}", want: []string{"at least 365d"}},
		{name: "redirect default port", old: "redirect_https: {port: 8443}", new: "redirect_https: {}"},
		{name: "redirect bad port", old: "redirect_https: {port: 8443}", new: "redirect_https: {port: 70000}", want: []string{`listeners[2].redirect_https.port: "70000" is not a port`}},
		{name: "redirect with routes", old: "redirect_https: {port: 8443}", new: "redirect_https: {port: 8443}\n    routes: [{hostname: a.example.com, mode: passthrough, backend: {address: 'a:1', server_id: 'spiffe://demo.local/a'}}]",
			want: []string{"listeners[2].routes is set next to redirect_https"}},
		{name: "redirect with client_ca_file", old: "redirect_https: {port: 8443}", new: "redirect_https: {port: 8443}\n    client_ca_file: ca.pem", want: []string{"listeners[2].client_ca_file", "plain HTTP"}},
		{name: "trusted forwarders", old: "    proxy_protocol: true", new: "    proxy_protocol: true\n    trusted_forwarders: [10.0.0.0/16, 10.1.2.3, 'fd00::/8']"},
		{name: "trusted forwarder not a CIDR", old: "    proxy_protocol: true", new: "    proxy_protocol: true\n    trusted_forwarders: [10.0.0.0/16, alb.internal]",
			want: []string{`listeners[0].trusted_forwarders[1]: "alb.internal" is not an address or a CIDR`}},
		{name: "trusted forwarders on a redirect listener", old: "redirect_https: {port: 8443}", new: "redirect_https: {port: 8443}\n    trusted_forwarders: [10.0.0.0/8]",
			want: []string{"listeners[2].trusted_forwarders is set on a redirect listener"}},
		{name: "listener without routes", old: "    redirect_https: {port: 8443}\n", new: "", want: []string{"listeners[2].routes is empty", "redirect_https"}},
		{name: "duplicate listener name", old: "name: lb", new: "name: https", want: []string{`listeners[1].name: "https" is already used by listeners[0].name`}},
		{name: "duplicate listen", old: "listen: :8080", new: "listen: :8443", want: []string{`listeners[2].listen: ":8443" is already used by listeners[0].listen`}},
		{name: "listen clashes with admin", old: "listen: 127.0.0.1:9443", new: "listen: 127.0.0.1:19190", want: []string{"already used by admin.listen"}},
		{name: "port zero twice", old: "listen: :8080", new: "listen: :0"},
		{name: "listen without port", old: "listen: :8080", new: "listen: localhost", want: []string{`listeners[2].listen: "localhost" is not host:port`}},
		{name: "identity from the shared block", old: "spiffe_id: spiffe://demo.local/ns/edge/sa/gateway", new: "spiffe_id: spiffe://demo.local",
			want: []string{`spiffe_id: "spiffe://demo.local" has no path`}},
		{name: "CA block from the shared block", old: "address: 127.0.0.1:18443, ", new: "", want: []string{"ca.address is required"}},
		{name: "data_dir instead of a join token", old: ", join_token_file: gw.tok", new: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(gatewayBaseline, tt.old) {
				t.Fatalf("baseline lacks %q", tt.old)
			}
			g, err := config.ParseGateway([]byte(strings.Replace(gatewayBaseline, tt.old, tt.new, 1)))
			if len(tt.want) == 0 {
				if err != nil || g == nil {
					t.Fatalf("ParseGateway: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseGateway accepted the file; want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseGatewayDefaults(t *testing.T) {
	g, err := config.ParseGateway([]byte(`trust_domain: demo.local
ca: {address: ca.internal:8443, bundle_file: b.pem, join_token_file: t}
listeners:
  - listen: 127.0.0.1:0
    routes: [{hostname: a.example.com, mode: terminate, tls: {cert_file: c, key_file: k}, backends: [{path_prefix: /, address: 'a:80', server_id: spiffe://demo.local/a}]}]
  - listen: 127.0.0.1:0
    redirect_https: {}
  - listen: 127.0.0.1:0
    routes: [{hostname: b.example.com, mode: reencrypt, tls: {cert_file: c, key_file: k}, backend: {address: 'b.internal:443', ca_file: ca.pem}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	l := g.Listeners
	switch {
	case l[0].Name != "listener-0" || l[1].Name != "listener-1":
		t.Errorf("default names %q %q", l[0].Name, l[1].Name)
	case l[0].ProxyProtocol || l[0].ClientCAFile != "" || l[0].Routes[0].HSTS != nil:
		t.Errorf("optional settings on by default: %+v", l[0])
	case l[0].Routes[0].Backends[0].Protocol != config.HTTP1:
		t.Errorf("default protocol %q", l[0].Routes[0].Backends[0].Protocol)
	case l[1].RedirectPort != config.DefaultRedirectPort:
		t.Errorf("default redirect port %d", l[1].RedirectPort)
	case l[2].Routes[0].Backends[0].ServerName != "b.internal":
		t.Errorf("default server_name %q, want the address's host", l[2].Routes[0].Backends[0].ServerName)
	case !g.ID.IsZero() || g.TrustDomain.Name() != "demo.local":
		t.Errorf("identity %s in %s", g.ID, g.TrustDomain)
	}
}

func TestHSTSHeader(t *testing.T) {
	h := config.HSTS{MaxAge: 730 * 24 * time.Hour, IncludeSubdomains: true, Preload: true}
	if got := h.Header(); got != "max-age=63072000; includeSubDomains; preload" {
		t.Fatalf("Header() = %q", got)
	}
	if got := (config.HSTS{}).Header(); got != "max-age=0" {
		t.Fatalf("zero Header() = %q", got)
	}
}

// Validate never changes the file struct it checks.
func TestGatewayValidateDoesNotMutate(t *testing.T) {
	f := config.GatewayFile{
		SPIFFEID: "spiffe://demo.local/gw", CA: config.CAFile{Address: "127.0.0.1:1", BundleFile: "b", JoinTokenFile: "t"},
		Listeners: []config.GatewayListenerFile{{Listen: "127.0.0.1:0", Routes: []config.RouteFile{{
			Hostname: "A.Example.com", Mode: config.Terminate, TLS: &config.RouteTLSFile{CertFile: "c", KeyFile: "k"},
			Backends: []config.BackendFile{{PathPrefix: "/", Address: "127.0.0.1:2", ServerID: "spiffe://demo.local/b"}},
		}}}},
	}
	before := fmt.Sprintf("%#v %#v", f, *f.Listeners[0].Routes[0].TLS)
	g, err := f.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if after := fmt.Sprintf("%#v %#v", f, *f.Listeners[0].Routes[0].TLS); after != before {
		t.Fatalf("Validate changed its input:\n%s\n%s", before, after)
	}
	if g.Listeners[0].Routes[0].Hostname != "a.example.com" || g.Listeners[0].Routes[0].Backends[0].Protocol != config.HTTP1 {
		t.Fatalf("runtime values %+v", g.Listeners[0].Routes[0])
	}
}

func TestParseGatewayEmpty(t *testing.T) {
	_, err := config.ParseGateway([]byte("# nothing\n"))
	if err == nil || !strings.Contains(err.Error(), "file is empty") || !strings.Contains(err.Error(), "docs/gateway.md") {
		t.Fatalf("empty file: %v", err)
	}
}

func TestGatewayBackendWeights(t *testing.T) {
	file := strings.Replace(gatewayBaseline, "{path_prefix: /, address: 10.0.0.2:8080,",
		"{path_prefix: /, weight: 9, address: 10.0.0.9:8080, server_id: spiffe://demo.local/ns/shop/sa/canary}\n          - {path_prefix: /, weight: 0, address: 10.0.0.2:8080,", 1)
	g, err := config.ParseGateway([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, b := range g.Listeners[0].Routes[0].Backends {
		got = append(got, b.Weight)
	}
	if want := []int{9, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("weights %v, want %v (unset: 1)", got, want)
	}
}

func TestParseHSTS(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the header it reads as; "" for an error
	}{
		{"max-age=31536000; includeSubDomains", "max-age=31536000; includeSubDomains"},
		{"Max-Age=31536000;includesubdomains;PRELOAD", "max-age=31536000; includeSubDomains; preload"},
		{"max-age=0", "max-age=0"},
		{"max-age=600;", "max-age=600"},
		{"", ""},
		{"includeSubDomains", ""},
		{"max-age=abc", ""},
		{"max-age=-1", ""},
		{"max-age=99999999", ""}, // over 730 days
		{"max-age=600; preload", ""},
		{"max-age=600; includeSubDomains=yes", ""},
		{"max-age=600; report-uri=x", ""},
	} {
		h, err := config.ParseHSTS(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseHSTS(%q) = %s; want an error", tc.in, h.Header())
		case tc.want != "" && err != nil:
			t.Errorf("ParseHSTS(%q): %v", tc.in, err)
		case tc.want != "" && h.Header() != tc.want:
			t.Errorf("ParseHSTS(%q) = %s; want %s", tc.in, h.Header(), tc.want)
		}
	}
}
