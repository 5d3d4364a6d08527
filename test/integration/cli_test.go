package integration_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/testenv"
)

// failsWith waits for a process that must exit non-zero and checks that its
// output has the "hopseal:" error prefix and every wanted phrase.
func failsWith(t *testing.T, p *testenv.Proc, want ...string) {
	t.Helper()
	err := p.Wait(20 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit: %v, want a non-zero exit; output:\n%s", err, p.Output())
	}
	out := p.Output()
	for _, w := range append([]string{"hopseal: "}, want...) {
		if !strings.Contains(out, w) {
			t.Errorf("error output lacks %q:\n%s", w, out)
		}
	}
}

// proxyBaseline is a valid proxy file whose bundle and token files exist; no
// CA listens at its address, so only --check may run it to the end.
func proxyBaseline(t *testing.T, dir string) config.ProxyFile {
	t.Helper()
	testenv.Exec{}.MustOutput(t, dir, "ca", "init", "--state-dir", filepath.Join(dir, "ca"), "--trust-domain", trustDomain)
	token := filepath.Join(dir, "join.token")
	if err := os.WriteFile(token, []byte("hsjt_not_redeemed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.ProxyFile{
		SPIFFEID: serverID,
		CA:       config.CAFile{Address: "127.0.0.1:1", BundleFile: filepath.Join(dir, "ca", "bundle.pem"), JoinTokenFile: token},
		Inbound:  []config.InboundFile{{Name: "web", Forward: "127.0.0.1:9", Allow: []string{clientID}}},
		Outbound: []config.OutboundFile{{Name: "up", Upstream: "127.0.0.1:9", ServerID: clientID}},
	}
}

// TestProxyConfigErrors: each broken file changes one thing from a valid
// baseline; `hopseal proxy` exits non-zero naming the key path and the fix.
func TestProxyConfigErrors(t *testing.T) {
	dir := t.TempDir()
	base := proxyBaseline(t, dir)
	cases := []struct {
		name string
		edit func(f *config.ProxyFile)
		raw  func(yaml string) string
		want []string
	}{
		{name: "unknown key", raw: func(s string) string { return strings.Replace(s, "spiffe_id:", "spiffe_idd:", 1) },
			want: []string{"spiffe_idd (line 1) is not a known key", "known keys here:", "spiffe_id"}},
		{name: "spiffe_id without scheme", edit: func(f *config.ProxyFile) { f.SPIFFEID = "demo.local/ns/shop/sa/server" },
			want: []string{"spiffe_id:", "write spiffe://<trust-domain>/<path>"}},
		{name: "ca.address without port", edit: func(f *config.ProxyFile) { f.CA.Address = "127.0.0.1" },
			want: []string{"ca.address:", "write e.g. 127.0.0.1:8443"}},
		{name: "no bundle file", edit: func(f *config.ProxyFile) { f.CA.BundleFile = "" },
			want: []string{"ca.bundle_file is required", "hopseal ca bundle"}},
		{name: "svid_ttl below minimum", edit: func(f *config.ProxyFile) { f.CA.SVIDTTL = "1m" },
			want: []string{"ca.svid_ttl:", "5m minimum"}},
		{name: "empty allow list", edit: func(f *config.ProxyFile) { f.Inbound[0].Allow = nil },
			want: []string{"inbound[0].allow", "list the SPIFFE IDs that may connect"}},
		{name: "allow entry not a SPIFFE ID", edit: func(f *config.ProxyFile) { f.Inbound[0].Allow = []string{"shop/client"} },
			want: []string{"inbound[0].allow[0]:", "write spiffe://"}},
		{name: "outbound without server_id", edit: func(f *config.ProxyFile) { f.Outbound[0].ServerID = "" },
			want: []string{"outbound[0].server_id is required"}},
		{name: "bundle file missing on disk", edit: func(f *config.ProxyFile) { f.CA.BundleFile = filepath.Join(dir, "missing.pem") },
			want: []string{"ca.bundle_file:", "no such file", "hopseal ca bundle"}},
		{name: "join token file missing on disk", edit: func(f *config.ProxyFile) { f.CA.JoinTokenFile = filepath.Join(dir, "missing.token") },
			want: []string{"ca.join_token_file:", "no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := base
			f.Inbound = append([]config.InboundFile(nil), base.Inbound...)
			f.Outbound = append([]config.OutboundFile(nil), base.Outbound...)
			if c.edit != nil {
				c.edit(&f)
			}
			path := writeConfig(t, t.TempDir(), f, c.raw)
			failsWith(t, testenv.Exec{}.Start(t, dir, "proxy", "-c", path), c.want...)
		})
	}
}

func writeConfig(t *testing.T, dir string, f config.ProxyFile, raw func(string) string) string {
	t.Helper()
	path, _ := testenv.WriteProxyConfig(t, dir, "proxy", f)
	if raw != nil {
		if err := os.WriteFile(path, []byte(raw(readFile(t, path))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestProxyCheck: --check validates without starting anything.
func TestProxyCheck(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, proxyBaseline(t, dir), nil)
	out := testenv.Exec{}.MustOutput(t, dir, "proxy", "--check", "-c", path)
	if strings.TrimSpace(out) != path+": valid" {
		t.Errorf("proxy --check printed %q, want %q", out, path+": valid")
	}
	bad := writeConfig(t, t.TempDir(), proxyBaseline(t, t.TempDir()), func(s string) string { return s + "bogus: 1\n" })
	failsWith(t, testenv.Exec{}.Start(t, dir, "proxy", "--check", "-c", bad), "bogus (line", "is not a known key")
}

// TestTokenOtherTrustDomain: a token for another trust domain is refused,
// through a running CA's admin socket and from the store of a stopped one.
func TestTokenOtherTrustDomain(t *testing.T) {
	ca := testenv.StartCA(t, testenv.CAOptions{TrustDomain: trustDomain})
	for _, state := range []string{"running", "stopped"} {
		t.Run(state, func(t *testing.T) {
			if state == "stopped" {
				ca.Stop(t)
			}
			p := ca.Exec.Start(t, ca.Dir, "ca", "token", "create", "--state-dir", ca.StateDir, "--spiffe-id", "spiffe://other.td/x")
			failsWith(t, p, "spiffe://other.td/x is outside this CA's trust domain demo.local", "use spiffe://demo.local/")
		})
	}
}

// TestCAServeRefusesOpenKeys: `ca serve` refuses a state dir or signing key
// readable by others and says which chmod fixes it.
func TestCAServeRefusesOpenKeys(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, state string)
		want  []string // empty: the CA serves
	}{
		{name: "baseline"},
		{name: "signing.key 0644", setup: func(t *testing.T, state string) { chmod(t, filepath.Join(state, "signing.key"), 0o644) },
			want: []string{"signing.key has mode 0644", "chmod 600 "}},
		{name: "state dir 0755", setup: func(t *testing.T, state string) { chmod(t, state, 0o755) },
			want: []string{"has mode 0755", "chmod 700 "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "ca")
			testenv.Exec{}.MustOutput(t, dir, "ca", "init", "--state-dir", state, "--trust-domain", trustDomain)
			if c.setup != nil {
				c.setup(t, state)
			}
			p := testenv.Exec{}.Start(t, dir, "ca", "serve", "--state-dir", state, "--listen", "127.0.0.1:0", "--bundle-listen", "")
			if len(c.want) == 0 {
				p.WaitLogLines(t, "CA serving", 1, 20*time.Second)
				return
			}
			failsWith(t, p, c.want...)
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
