package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// TestFIPSOnly builds hopseal against Go's FIPS 140-3 module and runs the CA
// and a proxy pair with GODEBUG=fips140=only, where any non-approved
// algorithm fails: traffic still flows over TLS 1.3 with the hybrid
// post-quantum key exchange and an AES-GCM suite, and a peer offering only
// X25519 is refused.
func TestFIPSOnly(t *testing.T) {
	e := testenv.Exec{Bin: testenv.FIPSBinary(t), Env: []string{"GODEBUG=fips140=only"}}
	if out := e.MustOutput(t, "", "version"); !strings.Contains(out, "fips140: enforced (module "+testenv.FIPSModule) {
		t.Fatalf("hopseal version under fips140=only:\n%s\nwant fips140: enforced", out)
	}
	m := startMesh(t, e)
	m.echo(t, "hello in FIPS-only mode")
	for _, p := range []*testenv.Proxy{m.client, m.server} {
		l := p.Connection(t, func(l map[string]any) bool { return testenv.Str(l, "listener") == "echo" })
		if testenv.Str(l, "decision") != "allow" || testenv.Str(l, "tls_version") != "TLS 1.3" ||
			testenv.Str(l, "key_exchange") != "X25519MLKEM768" || !strings.Contains(testenv.Str(l, "cipher_suite"), "AES_") {
			t.Errorf("%s connection under fips140=only: %v; want allow, TLS 1.3, X25519MLKEM768, AES-GCM", p.Name, l)
		}
	}
	// X25519 alone is not approved: a peer offering only it is refused, which
	// shows the proxies really run in FIPS-only mode.
	testenv.RequireTool(t, "openssl")
	seen := len(m.server.Proc.LogLines("connection"))
	out, _ := sClient(t, m.server.Inbound["echo"], "hopseal-fips-x25519", "-groups", "X25519", "-CAfile", m.ca.BundleFile)
	if !strings.Contains(out, "alert handshake failure") {
		t.Errorf("openssl offering only X25519 was not refused by the FIPS-only proxy:\n%s", out)
	}
	line := m.server.Proc.WaitLogLines(t, "connection", seen+1, 10*time.Second)[seen]
	if r := testenv.Str(line, "reason"); testenv.Str(line, "decision") != "error" || !strings.Contains(r, "no key exchanges supported") {
		t.Errorf("server proxy logged %v for an X25519-only client; want a handshake error about key exchanges", line)
	}
	for _, p := range []*testenv.Proxy{m.client, m.server} {
		if out := p.Proc.Output(); strings.Contains(out, "panic") || strings.Contains(out, "fips140") {
			t.Errorf("%s logged a FIPS problem:\n%s", p.Name, out)
		}
	}
}
