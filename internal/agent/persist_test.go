package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/pki"
)

// An agent restarted with the same data directory resumes its SVID without
// a token and without the CA.
func TestDataDirPersistence(t *testing.T) {
	clk := clock.NewFake(time.Now())
	c := newCA(t, clk)
	dataDir := filepath.Join(t.TempDir(), "data")
	first, _ := c.newAgent(agent.Config{JoinToken: c.token(orders, false), DataDir: dataDir})
	svid := start(t, first)

	for name, want := range map[string]os.FileMode{"svid.key": 0o600, "svid.pem": 0o600, "bundle.pem": 0o600} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatalf("%s not persisted: %v", name, err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", name, fi.Mode().Perm(), want)
		}
	}
	if fi, err := os.Stat(dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}

	c.stop() // the second agent must not need the CA
	second, _ := c.newAgent(agent.Config{DataDir: dataDir, ExpectedID: spiffeid.RequireFromString(orders)})
	loaded := start(t, second)
	if !loaded.Certificates[0].Equal(svid.Certificates[0]) {
		t.Fatal("second agent holds another certificate than the persisted one")
	}
	if !pki.PublicKeysEqual(loaded.Certificates[0].PublicKey, loaded.PrivateKey.Public()) {
		t.Fatal("persisted key does not match the certificate")
	}
	if roots := second.Bundle().X509Authorities(); len(roots) != 1 || !roots[0].Equal(c.roots[0]) {
		t.Fatal("persisted bundle is not the CA's")
	}

	// A persisted SVID is used only if it is valid and of the configured identity.
	tests := []struct {
		name    string
		cfg     agent.Config
		advance time.Duration
	}{
		{name: "other identity", cfg: agent.Config{DataDir: dataDir, ExpectedID: spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/admin")}},
		{name: "expired", cfg: agent.Config{DataDir: dataDir}, advance: 2 * svidTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Advance(tt.advance)
			a, _ := c.newAgent(tt.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Start(ctx); err == nil || !strings.Contains(err.Error(), "no SVID and no join token") {
				t.Fatalf("Start = %v, want a refusal of the persisted SVID", err)
			}
		})
	}
}
