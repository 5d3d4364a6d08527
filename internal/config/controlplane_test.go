package config_test

import (
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/config"
)

// The shape `hopseal proxy --kubernetes` builds: a token file, transparent
// mode, and the controller's stream instead of policy and discovery files.
const kubeBaseline = `trust_domain: cluster.local
ca: {address: "hopseal-controller.hopseal-system.svc:8443", bundle_file: /b/bundle.pem, token_file: /t/token}
data_dir: /d
admin: {listen: ":14090"}
transparent: {}
control_plane: {address: "hopseal-controller.hopseal-system.svc:8443", namespace: shop, pod: web-7d9f-x2x.a}
`

func TestParseControlPlane(t *testing.T) {
	p, err := config.ParseProxy([]byte(kubeBaseline))
	if err != nil {
		t.Fatal(err)
	}
	if cp := p.ControlPlane; cp == nil || cp.Namespace != "shop" || cp.Pod != "web-7d9f-x2x.a" || p.TokenFile != "/t/token" {
		t.Fatalf("parsed %+v, token file %q", p.ControlPlane, p.TokenFile)
	}
	for _, tt := range []struct{ name, old, new, want string }{
		{"both tokens", "token_file: /t/token", "token_file: /t/token, join_token_file: /j", "ca.token_file"},
		{"no transparent", "transparent: {}\n", "", "control_plane needs transparent mode"},
		{"policy file too", "transparent: {}", "transparent: {policy_file: p.yaml}", "transparent.policy_file"},
		{"discovery file too", "transparent: {}", "transparent: {discovery_file: d.yaml}", "transparent.discovery_file"},
		{"mode too", "transparent: {}", "transparent: {mode: permissive}", "transparent.mode"},
		{"bad namespace", "namespace: shop", "namespace: Shop", "control_plane.namespace"},
		{"bad pod", "pod: web-7d9f-x2x.a", "pod: web_1", "control_plane.pod"},
		{"no address", `control_plane: {address: "hopseal-controller.hopseal-system.svc:8443", `, `control_plane: {`, "control_plane.address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(kubeBaseline, tt.old) {
				t.Fatalf("baseline lacks %q", tt.old)
			}
			_, err := config.ParseProxy([]byte(strings.Replace(kubeBaseline, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want one naming %s", err, tt.want)
			}
		})
	}
}

func TestFromKubernetesEnv(t *testing.T) {
	env := map[string]string{
		config.EnvPodName: "web-1", config.EnvPodNamespace: "shop", config.EnvServiceAccount: "web",
		config.EnvController: "hopseal-controller.hopseal-system.svc:8443", config.EnvTrustDomain: "cluster.local",
	}
	p, err := config.FromKubernetesEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if p.ID.String() != "spiffe://cluster.local/ns/shop/sa/web" || p.ControlPlane.Pod != "web-1" || p.TokenFile != config.KubeTokenFile || p.Transparent == nil {
		t.Errorf("got ID %s, control plane %+v, token %q, transparent %v", p.ID, p.ControlPlane, p.TokenFile, p.Transparent)
	}
	for _, tt := range []struct{ unset, value, want string }{
		{config.EnvPodName, "", config.EnvPodName + " not set"},
		{config.EnvController, "", config.EnvController + " not set"},
		{config.EnvTrustDomain, "Cluster Local", config.EnvTrustDomain},
		{config.EnvPodNamespace, "Shop", config.EnvPodNamespace},
	} {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		bad[tt.unset] = tt.value
		if _, err := config.FromKubernetesEnv(func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: err = %v; want one naming %q", tt.unset, tt.value, err, tt.want)
		}
	}
}
