package edgecmd

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testpki"
)

// runGateway runs `hopseal gateway args…` in process.
func runGateway(args ...string) (stdout, logs string, err error) {
	var out, logBuf bytes.Buffer
	g := cli.NewGlobals(&logBuf, "info")
	cmd := gatewayCmd(g)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	g.Flush()
	return out.String(), logBuf.String(), err
}

const gatewayFile = `spiffe_id: spiffe://demo.local/ns/edge/sa/gateway
ca: {address: 127.0.0.1:1, bundle_file: BUNDLE, join_token_file: TOKEN}
listeners:
  - listen: LISTEN
    routes:
      - hostname: shop.example.com
        mode: terminate
        tls: {cert_file: CERT, key_file: CERT}
        backends: [{path_prefix: /, address: 127.0.0.1:2, server_id: spiffe://demo.local/web}]
`

// Each case changes one thing in a file that passes --check; the gateway
// then fails at start-up on what it reads, naming the key.
func TestGatewayCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundle := write("bundle.pem", string(pki.EncodeCerts(testpki.New(t, "demo.local").Root)))
	token := write("gw.tok", "token\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	base := strings.NewReplacer("BUNDLE", bundle, "TOKEN", token, "LISTEN", "127.0.0.1:0", "CERT", filepath.Join(dir, "missing.pem")).Replace(gatewayFile)
	tests := []struct {
		name     string
		old, new string
		args     []string
		want     string
	}{
		{name: "check passes", args: []string{"--check"}, want: ": valid"},
		{name: "check refuses", old: "mode: terminate", new: "mode: tunnel", args: []string{"--check"}, want: `listeners[0].routes[0].mode: "tunnel" is not a route mode`},
		{name: "missing certificate", want: "listeners[0].routes[0] (shop.example.com): tls: certs: read the certificate file"},
		{name: "listen address taken", old: "listen: 127.0.0.1:0", new: "listen: " + busy.Addr().String(), want: "listeners[0].listen"},
		{name: "bad bundle", old: bundle, new: token, want: "ca.bundle_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write("gateway.yaml", strings.Replace(base, tt.old, tt.new, 1))
			out, _, err := runGateway(append([]string{"-c", path}, tt.args...)...)
			got := out
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q (err %v), want %q", got, err, tt.want)
			}
			if (err == nil) != (tt.want == ": valid") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, _, err := runGateway("-c", filepath.Join(dir, "absent.yaml")); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("absent file: %v", err)
	}
}

// The gateway belongs to the full binary, not to the data plane's.
func TestGatewayRegistered(t *testing.T) {
	if err := cli.Run(context.Background(), []string{"gateway", "--help"}, Commands()...); err != nil {
		t.Errorf("hopseal gateway --help: %v", err)
	}
	if err := cli.RunDataPlane(context.Background(), []string{"gateway", "--help"}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("hopseal-proxy gateway: %v, want unknown command", err)
	}
}
