package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/config"
)

const acmeBaseline = `spiffe_id: spiffe://demo.local/ns/edge/sa/gateway
ca: {address: 127.0.0.1:18443, bundle_file: bundle.pem, join_token_file: gw.tok}
data_dir: ./gw-data
listeners:
  - name: https
    listen: :8443
    routes:
      - hostname: Shop.example.com
        mode: terminate
        acme: {directory_url: "https://acme.example.net/directory", email: ops@example.com, ca_file: acme-roots.pem}
        backends: [{path_prefix: /, address: 10.0.0.2:8080, server_id: spiffe://demo.local/ns/shop/sa/web}]
`

func TestGatewayACME(t *testing.T) {
	g, err := config.ParseGateway([]byte(acmeBaseline))
	if err != nil {
		t.Fatal(err)
	}
	a := g.Listeners[0].Routes[0].ACME
	want := config.ACME{DirectoryURL: "https://acme.example.net/directory", Email: "ops@example.com", CAFile: "acme-roots.pem",
		StorageDir: filepath.Join("gw-data", config.DefaultACMEStorage)}
	if a == nil || *a != want {
		t.Fatalf("acme = %+v, want %+v", a, want)
	}
	if r := g.Listeners[0].Routes[0]; r.CertFile != "" || r.KeyFile != "" {
		t.Fatalf("an ACME route has certificate files: %+v", r)
	}
}

// Each case changes the valid baseline in one way.
func TestGatewayACMEProblems(t *testing.T) {
	const acmeLine = `        acme: {directory_url: "https://acme.example.net/directory", email: ops@example.com, ca_file: acme-roots.pem}`
	tests := []struct {
		name, old, new, want string
	}{
		{"storage_dir given", acmeLine, `        acme: {directory_url: "https://acme.example.net/directory", storage_dir: /var/lib/acme}`, ""},
		{"no email", acmeLine, `        acme: {directory_url: "https://acme.example.net/directory"}`, ""},
		{"no directory", acmeLine, `        acme: {email: ops@example.com}`, "listeners[0].routes[0].acme.directory_url is required"},
		{"plain http directory", "https://acme", "http://acme", `acme.directory_url: "http://acme.example.net/directory" is not an https:// URL`},
		{"bad email", "ops@example.com", "ops at example", `acme.email: "ops at example" is not an email address`},
		{"named email", "email: ops@example.com", `email: "Ops <ops@example.com>"`, "is not an email address"},
		{"unknown key", "ca_file: acme-roots.pem", "ca_file: acme-roots.pem, challenge: dns-01", "challenge"},
		{"wildcard route", "hostname: Shop.example.com", `hostname: "*.example.com"`, "wildcards need the DNS-01 challenge"},
		{"tls as well", acmeLine, acmeLine + "\n        tls: {cert_file: a.crt, key_file: a.key}", "routes[0].acme is set next to tls"},
		{"no storage without data_dir", "data_dir: ./gw-data\n", "", "acme.storage_dir is required when data_dir is not set"},
		{"passthrough", "mode: terminate", "mode: passthrough", "acme is set on a passthrough route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(acmeBaseline, tc.old) {
				t.Fatalf("the baseline has no %q", tc.old)
			}
			_, err := config.ParseGateway([]byte(strings.Replace(acmeBaseline, tc.old, tc.new, 1)))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
