package edgecmd

import (
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/config"
)

// --control-plane takes the gateway's identity from the environment the
// chart sets; --check validates it, and each missing or wrong piece is
// named.
func TestGatewayControlPlaneFlags(t *testing.T) {
	env := map[string]string{config.EnvPodNamespace: "hopseal-gateway", config.EnvPodName: "gw-0", config.EnvServiceAccount: "hopseal-gateway",
		config.EnvController: "hopseal-controller.hopseal-system.svc:8443", config.EnvTrustDomain: "cluster.local"}
	for _, tc := range []struct {
		name  string
		unset string
		args  []string
		want  string // in stdout, or in the error
	}{
		{"valid", "", nil, "environment: valid"},
		{"--gateway of its namespace", "", []string{"--gateway", "hopseal-gateway/public"}, "environment: valid"},
		{"no controller address", config.EnvController, nil, config.EnvController + " not set"},
		{"--gateway of another namespace", "", []string{"--gateway", "shop/public"}, "only its own namespace's Gateways"},
		{"bad admin address", "", []string{"--admin-listen", "9090"}, "--admin-listen"},
		{"with a file", "", []string{"-c", "gateway.yaml"}, "[config control-plane] were all set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range env {
				if k != tc.unset {
					t.Setenv(k, v)
				} else {
					t.Setenv(k, "")
				}
			}
			out, _, err := runGateway(append([]string{"--control-plane", "--check"}, tc.args...)...)
			got := out
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q (err %v), want %q", out, err, tc.want)
			}
		})
	}
}
