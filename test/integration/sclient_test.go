package integration_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// sClient runs `openssl s_client -connect addr args...`, types marker on
// its stdin and waits until the marker comes back (the inbound forwards to
// an echo server) or s_client ends by itself; then it closes stdin.
func sClient(t *testing.T, addr, marker string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-connect", addr}, args...)...)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stdin.Write([]byte(marker + "\n"))
	deadline := time.After(15 * time.Second)
	for !strings.Contains(out.String(), marker) {
		select {
		case err := <-done:
			return out.String(), err
		case <-deadline:
			t.Fatalf("openssl s_client neither echoed nor ended in 15s:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stdin.Close()
	return out.String(), <-done
}

// testOpenSSLClient: openssl s_client, a TLS stack hopseal does not share
// code with, against a server proxy inbound. Each case changes one thing
// from a client with a valid, allowed SVID.
func testOpenSSLClient(t *testing.T, m *mesh) {
	testenv.RequireTool(t, "openssl")
	clientData := filepath.Join(m.dir, "client-data")
	serverData := filepath.Join(m.dir, "server-data")
	signing := filepath.Join(m.ca.StateDir, "signing.crt")
	base := []string{"-CAfile", m.ca.BundleFile, "-verify_return_error", "-cert_chain", signing}
	withCert := func(dir string) []string {
		return append(append([]string{}, base...), "-cert", filepath.Join(dir, "svid.pem"), "-key", filepath.Join(dir, "svid.key"))
	}
	cases := []struct {
		name       string
		args       []string
		echoed     bool
		wantOut    []string // in s_client's output
		wantReason string   // in the server proxy's connection line
		decision   string
	}{
		{"allowed client SVID", withCert(clientData), true,
			[]string{"New, TLSv1.3", "Verify return code: 0 (ok)"}, "", "allow"},
		{"no client certificate", base, false,
			[]string{"alert certificate required"}, "client didn't provide a certificate", "error"},
		{"TLS 1.2", append(withCert(clientData), "-tls1_2"), false,
			[]string{"alert protocol version"}, "unsupported versions", "error"},
		{"SVID not on the allow list", withCert(serverData), false,
			[]string{"Verify return code: 0 (ok)"}, "is not on the allow list", "deny"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen := len(m.server.Proc.LogLines("connection"))
			marker := "hopseal-s_client-probe-" + string(rune('a'+i))
			out, _ := sClient(t, m.server.Inbound["echo"], marker, c.args...)
			if got := strings.Count(out, marker) > 0; got != c.echoed {
				t.Errorf("data echoed through the inbound = %v, want %v:\n%s", got, c.echoed, out)
			}
			for _, w := range c.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("s_client output lacks %q:\n%s", w, out)
				}
			}
			if c.echoed {
				if uris := serverCert(t, out).URIs; len(uris) != 1 || uris[0].String() != serverID {
					t.Errorf("server certificate URIs = %v, want [%s]", uris, serverID)
				}
			}
			line := m.server.Proc.WaitLogLines(t, "connection", seen+1, 10*time.Second)[seen]
			if got := testenv.Str(line, "decision"); got != c.decision || !strings.Contains(testenv.Str(line, "reason"), c.wantReason) {
				t.Errorf("server proxy logged decision %q reason %q, want %q with %q", got, testenv.Str(line, "reason"), c.decision, c.wantReason)
			}
		})
	}
}
