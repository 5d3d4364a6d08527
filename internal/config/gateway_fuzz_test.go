package config_test

import (
	"path"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/config"
)

func FuzzParseGateway(f *testing.F) {
	f.Add([]byte(gatewayBaseline))
	f.Add([]byte(strings.Replace(gatewayBaseline, `"*.legacy.example.com"`, `"*.*.example.com"`, 1)))
	f.Add([]byte("trust_domain: d\nca: {address: 'c:1', bundle_file: b}\ndata_dir: x\nlisteners: [{listen: ':0', redirect_https: {port: -1}}]\n"))
	f.Add([]byte("listeners: [{routes: [{hostname: 'A..b', mode: terminate, hsts: {max_age: 99999999999d}, backends: [{path_prefix: '/a/./b'}]}]}]"))
	f.Add([]byte("listeners: [{routes: [{hostname: '[::1]', mode: reencrypt, backend: {address: '[::1]:443', server_name: '*'}}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := config.ParseGateway(data)
		if err != nil {
			if g != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if len(g.Listeners) == 0 {
			t.Fatal("accepted a configuration without listeners")
		}
		if g.TrustDomain.IsZero() || (!g.ID.IsZero() && !g.ID.MemberOf(g.TrustDomain)) {
			t.Fatalf("identity %q outside trust domain %q", g.ID, g.TrustDomain)
		}
		checkAddr(t, g.CAAddress, true)
		for _, l := range g.Listeners {
			checkAddr(t, l.Listen, false)
			if (l.RedirectPort != 0) == (len(l.Routes) != 0) || l.RedirectPort < 0 || l.RedirectPort > 65535 {
				t.Fatalf("listener %q: redirect port %d with %d routes", l.Name, l.RedirectPort, len(l.Routes))
			}
			hosts := map[string]bool{}
			for _, r := range l.Routes {
				if hosts[r.Hostname] || r.Hostname != strings.ToLower(r.Hostname) || strings.Contains(strings.TrimPrefix(r.Hostname, "*."), "*") {
					t.Fatalf("listener %q: hostname %q duplicated or malformed", l.Name, r.Hostname)
				}
				hosts[r.Hostname] = true
				checkRoute(t, l, r)
			}
		}
	})
}

func checkRoute(t *testing.T, l config.GatewayListener, r config.Route) {
	t.Helper()
	terminates := r.Mode == config.Terminate || r.Mode == config.Reencrypt
	switch {
	case terminates && (r.CertFile == "" || r.KeyFile == ""):
		t.Fatalf("route %q terminates without a certificate", r.Hostname)
	case !terminates && (r.CertFile != "" || r.HSTS != nil || l.ClientCAFile != ""):
		t.Fatalf("passthrough route %q has TLS settings", r.Hostname)
	case r.Mode != config.Terminate && len(r.Backends) != 1:
		t.Fatalf("route %q has %d backends", r.Hostname, len(r.Backends))
	case len(r.Backends) == 0:
		t.Fatalf("route %q has no backend", r.Hostname)
	}
	for _, b := range r.Backends {
		checkAddr(t, b.Address, true)
		if r.Mode == config.Reencrypt {
			if b.CAFile == "" || b.ServerName == "" || !b.ServerID.IsZero() {
				t.Fatalf("reencrypt backend %+v could skip verification", b)
			}
			continue
		}
		checkID(t, b.ServerID)
		if r.Mode == config.Terminate && (b.Protocol != config.HTTP1 && b.Protocol != config.HTTP2 ||
			!strings.HasPrefix(b.PathPrefix, "/") || b.PathPrefix != "/" && path.Clean(b.PathPrefix) != b.PathPrefix) {
			t.Fatalf("terminate backend %+v", b)
		}
	}
}
