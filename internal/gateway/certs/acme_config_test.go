package certs

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

func TestNewACMEChecks(t *testing.T) {
	dir := t.TempDir()
	roots := filepath.Join(dir, "roots.pem")
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, roots, pki.EncodeCerts(testpki.New(t, "example.org").Root))
	writeFile(t, notPEM, []byte("hello"))
	base := func() ACME {
		return ACME{
			DirectoryURL: "https://acme.example.net/directory", CARootsFile: roots,
			StorageDir: filepath.Join(t.TempDir(), "acme"), Hostnames: []string{"Shop.Example.com"}, TLSALPNPort: 8443,
		}
	}
	tests := []struct {
		name    string
		change  func(*ACME)
		wantErr string
	}{
		{name: "valid", change: func(*ACME) {}},
		{"plain http directory", func(c *ACME) { c.DirectoryURL = "http://acme.example.net/directory" }, "must be an https:// URL"},
		{"no storage", func(c *ACME) { c.StorageDir = "" }, "needs a storage directory"},
		{"no hostname", func(c *ACME) { c.Hostnames = nil }, "at least one hostname"},
		{"wildcard hostname", func(c *ACME) { c.Hostnames = []string{"*.example.com"} }, "DNS-01"},
		{"IP hostname", func(c *ACME) { c.Hostnames = []string{"192.0.2.1"} }, "is an IP address"},
		{"single label", func(c *ACME) { c.Hostnames = []string{"shop"} }, "not a fully qualified DNS name"},
		{"no challenge port", func(c *ACME) { c.TLSALPNPort = 0 }, "needs a challenge port"},
		{"port out of range", func(c *ACME) { c.HTTPPort = 70000 }, "out of range"},
		{"missing roots file", func(c *ACME) { c.CARootsFile = filepath.Join(dir, "absent.pem") }, "read the ACME CA roots file"},
		{"roots file not PEM", func(c *ACME) { c.CARootsFile = notPEM }, "holds no PEM certificate"},
		{"storage under a file", func(c *ACME) { c.StorageDir = filepath.Join(notPEM, "acme") }, "ACME storage directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.change(&cfg)
			src, err := NewACME(cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewACME error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(cfg.StorageDir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("storage directory: %v, mode %v, want 0700", err, fi.Mode().Perm())
			}
			if !src.serves("shop.example.com:80") {
				t.Fatal("hostnames are not matched case-insensitively")
			}
		})
	}
}

// TestACMEBeforeRun: without Run nothing is served, and Run runs once.
func TestACMEBeforeRun(t *testing.T) {
	src, err := NewACME(ACME{
		DirectoryURL: "https://127.0.0.1:1/directory", StorageDir: t.TempDir(),
		Hostnames: []string{"shop.example.com"}, TLSALPNPort: 1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "shop.example.com"}
	if _, err := src.GetCertificate(hello); err == nil || !strings.Contains(err.Error(), "Run is not running") {
		t.Fatalf("GetCertificate before Run: %v", err)
	}
	if got := src.Certificates(); len(got) != 0 {
		t.Fatalf("Certificates before Run = %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { src.Run(ctx) })
	testenv.Eventually(t, wait, "Run to start", func() bool { return src.run.Load() != nil })
	if err := src.Run(ctx); err == nil || !strings.Contains(err.Error(), "called twice") {
		t.Fatalf("second Run: %v", err)
	}
	// 127.0.0.1: a client sends no SNI for an IP address.
	for _, name := range []string{"shop.example.com", "other.example.com", "127.0.0.1"} {
		if _, err := handshake(t, &tls.Config{GetCertificate: src.GetCertificate}, nil, name); err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
			t.Fatalf("a handshake for %q without any certificate: %v, want an alert from the server", name, err)
		}
	}
}
