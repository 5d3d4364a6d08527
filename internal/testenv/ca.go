package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/store"
)

// CAOptions configure StartCA; the zero value is a CA for demo.local run by
// Binary(t) in a fresh temp dir.
type CAOptions struct {
	Exec        Exec
	Dir         string   // working dir; the state lives in Dir/ca
	TrustDomain string   // default demo.local
	Args        []string // extra `ca serve` flags, e.g. --svid-ttl
}

// CA is a running `hopseal ca serve` with the addresses it logged.
type CA struct {
	Exec        Exec
	Dir         string
	StateDir    string
	TrustDomain string
	IssuerAddr  string
	BundleAddr  string
	AdminSocket string
	BundleFile  string // Dir/bundle.pem, written from `hopseal ca bundle`
	Proc        *Proc
	args        []string
}

// StartCA runs `hopseal ca serve` on loopback port 0 and waits for its
// "CA serving" line, then writes the trust bundle to BundleFile.
func StartCA(t testing.TB, o CAOptions) *CA {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.TrustDomain == "" {
		o.TrustDomain = "demo.local"
	}
	c := &CA{Exec: o.Exec, Dir: o.Dir, StateDir: filepath.Join(o.Dir, "ca"), TrustDomain: o.TrustDomain, args: o.Args}
	c.start(t, "127.0.0.1:0", "127.0.0.1:0")
	c.BundleFile = filepath.Join(c.Dir, "bundle.pem")
	if err := os.WriteFile(c.BundleFile, []byte(c.CLI(t, "bundle")), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *CA) start(t testing.TB, issuer, bundle string) {
	t.Helper()
	args := append([]string{"ca", "serve", "--state-dir", c.StateDir, "--trust-domain", c.TrustDomain,
		"--listen", issuer, "--bundle-listen", bundle}, c.args...)
	c.Proc = c.Exec.Start(t, c.Dir, args...)
	line := c.Proc.WaitLogLines(t, "CA serving", 1, 20*time.Second)[0]
	c.IssuerAddr, c.BundleAddr, c.AdminSocket = Str(line, "issuer_addr"), Str(line, "bundle_addr"), Str(line, "admin_socket")
	if c.IssuerAddr == "" || c.AdminSocket == "" {
		t.Fatalf("CA serving line lacks issuer_addr or admin_socket: %v", line)
	}
}

// Restart stops the CA gracefully and serves the same state dir again on
// the same addresses, as an operator's restart would.
func (c *CA) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.Resume(t)
}

// Resume starts a stopped CA again on its state dir and former addresses, so
// proxies configured with them find it.
func (c *CA) Resume(t testing.TB) {
	t.Helper()
	c.start(t, c.IssuerAddr, c.BundleAddr)
}

// Stop ends the CA with SIGINT and fails the test unless it exits cleanly.
func (c *CA) Stop(t testing.TB) {
	t.Helper()
	c.Proc.Stop()
	if err := c.Proc.Wait(time.Second); err != nil {
		t.Fatalf("CA exited with %v after SIGINT; want a clean exit", err)
	}
}

// CLI runs `hopseal ca <args> --state-dir <state>` and returns stdout; it
// reaches the running CA through its admin socket, or the store when stopped.
func (c *CA) CLI(t testing.TB, args ...string) string {
	t.Helper()
	return c.Exec.MustOutput(t, c.Dir, append(append([]string{"ca"}, args...), "--state-dir", c.StateDir)...)
}

// Token creates a single-use join token for id and returns the file holding it.
func (c *CA) Token(t testing.TB, id string) string {
	t.Helper()
	tok := strings.TrimSpace(c.CLI(t, "token", "create", "--spiffe-id", id))
	f, err := os.CreateTemp(c.Dir, "join-*.token")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(tok + "\n"); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// Certificates is `hopseal ca list -o json`.
func (c *CA) Certificates(t testing.TB) []store.CertRecord {
	t.Helper()
	var out []store.CertRecord
	if err := json.Unmarshal([]byte(c.CLI(t, "list", "-o", "json")), &out); err != nil {
		t.Fatalf("ca list -o json: %v", err)
	}
	return out
}

// Audit is `hopseal ca audit -o json`; it fails the test unless hopseal
// reports the hash chain intact.
func (c *CA) Audit(t testing.TB) []store.Event {
	t.Helper()
	args := []string{"ca", "audit", "-o", "json", "--state-dir", c.StateDir}
	out, errOut, err := c.Exec.Output(t, c.Dir, args...)
	if err != nil || !strings.Contains(errOut, "hash chain intact") {
		t.Fatalf("hopseal ca audit: err=%v, want the hash chain intact\n%s", err, errOut)
	}
	var events []store.Event
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		t.Fatalf("ca audit -o json: %v", err)
	}
	return events
}
