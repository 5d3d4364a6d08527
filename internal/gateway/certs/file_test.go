package certs

import (
	"context"
	"crypto/tls"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testpki"
)

func TestNewFile(t *testing.T) {
	ca := testpki.New(t, "example.org")
	good := valid(t, ca)
	other := valid(t, ca)
	now := time.Now()
	expired := issue(t, ca, now.Add(-2*time.Hour), now.Add(-time.Hour), "shop.example.com")
	tests := []struct {
		name    string
		change  func(certPath, keyPath string)
		wantErr string // empty: loads
	}{
		{name: "valid pair with chain"},
		{"key of another certificate", func(_, k string) { install(t, k, other.key) }, "does not match the certificate"},
		{"expired certificate", func(c, k string) { install(t, c, expired.certPEM); install(t, k, expired.key) }, "the certificate expired at"},
		{"chain out of order", func(c, _ string) { install(t, c, good.chainReversed) }, "did not issue certificate 1"},
		{"key in the certificate file", func(c, _ string) { install(t, c, good.key) }, `unexpected PEM block "PRIVATE KEY"`},
		{"certificate in the key file", func(_, k string) { install(t, k, good.certPEM) }, "no PEM private key found"},
		{"empty certificate file", func(c, _ string) { install(t, c, nil) }, "no PEM certificate found"},
		{"certificate file missing", func(c, _ string) { os.Remove(c) }, "read the certificate file"},
		{"key file unreadable", func(_, k string) { os.Remove(k); os.Mkdir(k, 0o700) }, "read the private key file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certPath, keyPath := files(t, good)
			if tc.change != nil {
				tc.change(certPath, keyPath)
			}
			f, err := NewFile(certPath, keyPath, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewFile error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info := f.Certificates()
			if len(info) != 1 || strings.Join(info[0].Names, ",") != "shop.example.com" || !info[0].NotAfter.Equal(good.leaf.NotAfter) {
				t.Fatalf("Certificates() = %+v, want shop.example.com until %s", info, good.leaf.NotAfter)
			}
			chain, err := handshake(t, &tls.Config{GetCertificate: f.GetCertificate}, rootPool(ca), "shop.example.com")
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if len(chain) != 2 || !chain[0].Equal(good.leaf) || !chain[1].Equal(good.intermediate) {
				t.Fatalf("client saw %d certificates, want the leaf and its intermediate", len(chain))
			}
		})
	}
}

// runFile starts f.Run for the test's duration.
func runFile(t *testing.T, f *File) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func serving(f *File) string {
	c, _ := f.GetCertificate(&tls.ClientHelloInfo{ServerName: "shop.example.com"})
	return InfoOf(c.Leaf).Serial
}

// TestFileReloadEitherOrder replaces the pair one file at a time: the old
// pair stays until the second file makes a matching pair, and the
// half-replaced state is logged as refused.
func TestFileReloadEitherOrder(t *testing.T) {
	ca := testpki.New(t, "example.org")
	for _, first := range []string{"cert", "key"} {
		t.Run(first+" first", func(t *testing.T) {
			old, next := valid(t, ca), valid(t, ca)
			certPath, keyPath := files(t, old)
			var l logs
			f, err := newFile(certPath, keyPath, l.logger(), 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			runFile(t, f)
			steps := [][2]any{{certPath, next.certPEM}, {keyPath, next.key}}
			if first == "key" {
				steps[0], steps[1] = steps[1], steps[0]
			}
			install(t, steps[0][0].(string), steps[0][1].([]byte))
			l.waitFor(t, "keeping the certificate in force", "does not match the certificate")
			if got, want := serving(f), InfoOf(old.leaf).Serial; got != want {
				t.Fatalf("after a half-replaced pair serving %s, want the old %s", got, want)
			}
			install(t, steps[1][0].(string), steps[1][1].([]byte))
			l.waitFor(t, "certificate reloaded", InfoOf(next.leaf).Serial)
			chain, err := handshake(t, &tls.Config{GetCertificate: f.GetCertificate}, rootPool(ca), "shop.example.com")
			if err != nil || !chain[0].Equal(next.leaf) {
				t.Fatalf("handshake after the reload: err %v, new leaf served: %v", err, err == nil && chain[0].Equal(next.leaf))
			}
			if strings.Contains(l.buf.String(), "PRIVATE KEY-----") {
				t.Fatal("a private key was logged")
			}
		})
	}
}

// TestFileReloadRefused breaks the files in ways that must each keep the
// pair in force, with the reason logged, then installs a good pair.
func TestFileReloadRefused(t *testing.T) {
	ca := testpki.New(t, "example.org")
	good := valid(t, ca)
	now := time.Now()
	expired := issue(t, ca, now.Add(-2*time.Hour), now.Add(-time.Minute), "shop.example.com")
	certPath, keyPath := files(t, good)
	var l logs
	f, err := newFile(certPath, keyPath, l.logger(), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	runFile(t, f)
	want := InfoOf(good.leaf).Serial
	steps := []struct {
		name string
		do   func()
		log  string
	}{
		{"expired pair", func() { install(t, keyPath, expired.key); install(t, certPath, expired.certPEM) }, "the certificate expired at"},
		{"garbage certificate", func() { install(t, certPath, []byte("not PEM")) }, "no PEM certificate found"},
		{"certificate file removed", func() { os.Remove(certPath) }, "cannot read the file"},
		// The cert file back to the version in force, then a key that does not match it.
		{"key of another certificate", func() { install(t, certPath, good.certPEM); install(t, keyPath, valid(t, ca).key) }, "does not match the certificate"},
	}
	for _, s := range steps {
		s.do()
		l.waitFor(t, s.log)
		if got := serving(f); got != want {
			t.Fatalf("after %s serving %s, want the old %s", s.name, got, want)
		}
	}
	next := valid(t, ca)
	install(t, keyPath, next.key)
	install(t, certPath, next.certPEM)
	l.waitFor(t, "certificate reloaded", InfoOf(next.leaf).Serial)
	if got := f.Certificates()[0]; got.Serial != InfoOf(next.leaf).Serial || !got.NotAfter.Equal(next.leaf.NotAfter) {
		t.Fatalf("Certificates() = %+v after the reload", got)
	}
}

// TestFileRollback rotates to a new pair and back, the certificate first
// each time: the file put back to an earlier version must be read again.
func TestFileRollback(t *testing.T) {
	ca := testpki.New(t, "example.org")
	old, next := valid(t, ca), valid(t, ca)
	certPath, keyPath := files(t, old)
	var l logs
	f, err := newFile(certPath, keyPath, l.logger(), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	runFile(t, f)
	for _, p := range []pair{next, old} {
		install(t, certPath, p.certPEM)
		l.waitFor(t, "keeping the certificate in force", "does not match the certificate")
		install(t, keyPath, p.key)
		l.waitFor(t, "certificate reloaded", InfoOf(p.leaf).Serial)
		if got := serving(f); got != InfoOf(p.leaf).Serial {
			t.Fatalf("serving %s, want %s", got, InfoOf(p.leaf).Serial)
		}
	}
}
