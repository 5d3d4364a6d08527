package config

import (
	"strings"
	"testing"
)

func TestGatewayFromKubernetesEnv(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{EnvPodNamespace: "edge", EnvPodName: "gw-1", EnvServiceAccount: "gateway",
			EnvController: "hopseal-controller.hopseal-system.svc:8443", EnvTrustDomain: "cluster.local"}
	}
	for _, tc := range []struct {
		name    string
		change  func(env map[string]string)
		gateway string
		admin   string
		wantErr string
	}{
		{"pod label chooses the Gateway", func(map[string]string) {}, "", ":9090", ""},
		{"--gateway of the pod's namespace", func(map[string]string) {}, "edge/public", ":9090", ""},
		{"--gateway without a pod name", func(e map[string]string) { delete(e, EnvPodName) }, "edge/public", ":9090", ""},
		{"no pod name and no --gateway", func(e map[string]string) { delete(e, EnvPodName) }, "", ":9090", EnvPodName + " (or --gateway)"},
		{"--gateway of another namespace", func(map[string]string) {}, "shop/public", ":9090", "only its own namespace's Gateways"},
		{"--gateway without a namespace", func(map[string]string) {}, "public", ":9090", "is not namespace/name"},
		{"no controller address", func(e map[string]string) { delete(e, EnvController) }, "", ":9090", EnvController},
		{"bad trust domain", func(e map[string]string) { e[EnvTrustDomain] = "Cluster Local" }, "", ":9090", "spiffe_id"},
		{"bad admin address", func(map[string]string) {}, "", "9090", "--admin-listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := base()
			tc.change(env)
			cp, err := GatewayFromKubernetesEnv(func(k string) string { return env[k] }, tc.gateway, tc.admin)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cp.ID.String() != "spiffe://cluster.local/ns/edge/sa/gateway" || cp.TokenFile != KubeTokenFile || cp.BundleFile != KubeBundleFile ||
				cp.CAAddress != env[EnvController] || cp.Controller != env[EnvController] || cp.Gateway != tc.gateway || cp.Namespace != "edge" {
				t.Errorf("got %+v", cp)
			}
		})
	}
}

func TestValidateStreamed(t *testing.T) {
	certs := map[string]CertPEM{"edge/shop": {Name: "edge/shop", Chain: []byte("chain"), Key: []byte("key")}}
	base := func() []StreamedListener {
		return []StreamedListener{
			{File: GatewayListenerFile{Name: "https", Listen: ":443", Routes: []RouteFile{
				{Hostname: "shop.example.com", Mode: Terminate, TLS: &RouteTLSFile{CertFile: "edge/shop", KeyFile: "edge/shop"},
					Backends: []BackendFile{{PathPrefix: "/", Address: "10.96.0.1:80", ServerID: "spiffe://cluster.local/ns/shop/sa/web"}, {PathPrefix: "/api"}}},
				{Hostname: "pay.example.com", Mode: Passthrough, Backend: &BackendFile{Address: "10.96.0.3:8443", ServerID: "spiffe://cluster.local/ns/pay/sa/pay"}},
			}}, Unresolved: map[int][]int{0: {1}}},
			{File: GatewayListenerFile{Name: "http", Listen: ":80", RedirectHTTPS: &RedirectFile{Port: 443}}},
			{File: GatewayListenerFile{Name: "tls-only", Listen: ":8443"}}, // no routes yet
		}
	}
	for _, tc := range []struct {
		name    string
		change  func(ls []StreamedListener)
		wantErr string
	}{
		{"baseline", func([]StreamedListener) {}, ""},
		{"unknown certificate", func(ls []StreamedListener) {
			ls[0].File.Routes[0].TLS.CertFile, ls[0].File.Routes[0].TLS.KeyFile = "x", "x"
		}, "does not carry"},
		{"certificate and key named apart", func(ls []StreamedListener) { ls[0].File.Routes[0].TLS.KeyFile = "other" }, "names one pair"},
		{"backend without address not marked", func(ls []StreamedListener) { ls[0].Unresolved = nil }, "address is required"},
		{"unresolved passthrough backend", func(ls []StreamedListener) { ls[0].Unresolved = map[int][]int{0: {1}, 1: {0}} }, ""},
		{"bad hostname", func(ls []StreamedListener) { ls[0].File.Routes[1].Hostname = "10.0.0.1" }, "is an IP address"},
		{"same port twice", func(ls []StreamedListener) { ls[2].File.Listen = ":443" }, "listen"},
		{"reencrypt", func(ls []StreamedListener) {
			ls[0].File.Routes[1] = RouteFile{Hostname: "x.example.com", Mode: Reencrypt, TLS: &RouteTLSFile{CertFile: "edge/shop", KeyFile: "edge/shop"},
				Backend: &BackendFile{Address: "10.0.0.1:443", CAFile: "ca.pem"}}
		}, "not configured by the controller"},
		{"client CA file", func(ls []StreamedListener) { ls[2].File.ClientCAFile = "/etc/ca.pem" }, "never streams one"},
		{"path prefix not canonical", func(ls []StreamedListener) { ls[0].File.Routes[0].Backends[1].PathPrefix = "/api/" }, "canonical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := base()
			tc.change(ls)
			got, err := ValidateStreamed(ls, certs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			shop := got[0].Routes[0]
			if shop.Cert == nil || shop.Cert.Name != "edge/shop" || shop.CertFile != "" || shop.Backends[1].Address != "" || shop.Backends[1].PathPrefix != "/api" {
				t.Errorf("shop route: %+v", shop)
			}
			if got[1].RedirectPort != 443 || len(got[2].Routes) != 0 || got[2].Listen != ":8443" {
				t.Errorf("listeners: %+v", got)
			}
		})
	}
}
