package integration_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/store"
	"github.com/hopseal/hopseal/internal/testenv"
)

func serials(certs []store.CertRecord) []string {
	var out []string
	for _, c := range certs {
		out = append(out, c.Serial)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCARestartKeepsState stops `ca serve` and starts it again on the same
// state dir: same root and bundle, earlier certificates still listed, the
// audit chain intact and growing, and proxies carry on and renew.
func TestCARestartKeepsState(t *testing.T) {
	m := startMesh(t, testenv.Exec{})
	conn := m.openConn(t)
	bundle, root := m.ca.CLI(t, "bundle"), readFile(t, filepath.Join(m.ca.StateDir, "root.crt"))
	certs := serials(m.ca.Certificates(t))
	m.ca.Stop(t)

	// Stopped: the CLI reads the store itself and verifies the chain locally.
	audit := m.ca.Audit(t)
	if err := store.VerifyChain(audit); err != nil {
		t.Fatalf("audit chain read from the store: %v", err)
	}
	m.ca.Resume(t)
	if strings.Contains(m.ca.Proc.Output(), "created new CA") {
		t.Fatal("restarted CA created a new CA instead of loading its state dir")
	}
	if m.ca.CLI(t, "bundle") != bundle || readFile(t, filepath.Join(m.ca.StateDir, "root.crt")) != root {
		t.Error("bundle or root changed across the restart")
	}
	listed := serials(m.ca.Certificates(t))
	for _, s := range certs {
		if !slices.Contains(listed, s) {
			t.Errorf("certificate %s issued before the restart is no longer listed", s)
		}
	}

	connEcho(t, conn, "open across the restart")
	m.echo(t, "new connection after the restart")
	before := m.client.Serials()
	m.client.SIGHUP(t)
	renewed := m.client.Proc.WaitLogMatch(t, "SVID updated", 30*time.Second, func(l map[string]any) bool {
		return !slices.Contains(before, testenv.Str(l, "serial"))
	})
	if got := testenv.Str(renewed, "attestation"); got != "x509_svid" {
		t.Errorf("renewal after the restart used attestation %q, want x509_svid", got)
	}
	serial := testenv.Str(renewed, "serial")
	if !slices.Contains(serials(m.ca.Certificates(t)), serial) {
		t.Errorf("hopseal ca list lacks %s, issued after the restart", serial)
	}
	after := m.ca.Audit(t) // running: the CA verifies the chain
	if len(after) <= len(audit) || after[len(audit)-1].Hash != audit[len(audit)-1].Hash {
		t.Fatalf("audit log: %d entries before the restart, %d after; want the old chain extended", len(audit), len(after))
	}
	if i := slices.IndexFunc(after[len(audit):], func(e store.Event) bool { return e.Serial == serial }); i < 0 {
		t.Errorf("audit log has no entry for %s, issued after the restart", serial)
	}
	m.echo(t, "after renewal")
}

// TestCADownCertsStillValid kills the CA: proxies keep serving existing and
// new connections on their valid SVIDs, log the failed renewal and still
// export a positive time to expiry.
func TestCADownCertsStillValid(t *testing.T) {
	m := startMesh(t, testenv.Exec{})
	conn := m.openConn(t)
	m.ca.Proc.Kill()

	connEcho(t, conn, "existing connection, CA down")
	m.echo(t, "new connection, CA down")
	m.client.SIGHUP(t)
	line := m.client.Proc.WaitLogLines(t, "SVID renewal failed; still serving the current SVID", 1, 30*time.Second)[0]
	if testenv.Str(line, "err") == "" || testenv.Str(line, "time_to_expiry") == "" {
		t.Errorf("renewal failure line lacks err or time_to_expiry: %v", line)
	}
	for _, p := range []*testenv.Proxy{m.client, m.server} {
		v, ok := p.Metric(t, "hopseal_svid_expiry_seconds", nil)
		if !ok || v <= 0 {
			t.Errorf("%s: hopseal_svid_expiry_seconds = %v (found %v), want > 0 while the SVID is valid", p.Name, v, ok)
		}
	}
	connEcho(t, conn, "existing connection after the failed renewal")
	m.echo(t, "new connection after the failed renewal")
}
