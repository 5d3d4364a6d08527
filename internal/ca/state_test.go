package ca_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/pki"
)

func initState(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := ca.Init(dir, ca.InitOptions{TrustDomain: td, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInitLayout(t *testing.T) {
	dir := initState(t)
	modes := map[string]os.FileMode{
		ca.FileBundle: 0o644, ca.FileRootCert: 0o644, ca.FileSigningCrt: 0o644,
		ca.FileRootKey: 0o600, ca.FileSigningKey: 0o600,
	}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", name, got, want)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory mode: %v %v", fi.Mode(), err)
	}
	auth, err := ca.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if auth.TrustDomain != td || len(auth.Roots) != 1 || !auth.Signing.IsCA {
		t.Fatalf("loaded %+v", auth)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	dir := initState(t)
	before := readAll(t, dir)
	err := ca.Init(dir, ca.InitOptions{TrustDomain: td, Now: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second Init: %v", err)
	}
	for name, data := range readAll(t, dir) {
		if string(data) != string(before[name]) {
			t.Errorf("second Init changed %s", name)
		}
	}
}

func TestInitOfflineRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	offline := filepath.Join(t.TempDir(), "root.key")
	if err := ca.Init(dir, ca.InitOptions{TrustDomain: td, RootKeyPath: offline, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ca.FileRootKey)); !os.IsNotExist(err) {
		t.Fatalf("root key written to the state directory too: %v", err)
	}
	if _, err := ca.Load(dir); err != nil {
		t.Fatalf("Load without the root key: %v", err)
	}
	if err := ca.Init(t.TempDir(), ca.InitOptions{TrustDomain: td, RootTTL: time.Hour, SigningTTL: 2 * time.Hour, Now: time.Now()}); err == nil {
		t.Fatal("Init accepted a signing CA outliving its root")
	}
}

// Each case damages one thing in a valid state directory.
func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr string
	}{
		{name: "key readable by others", wantErr: "chmod 600", damage: func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, ca.FileSigningKey), 0o644)
		}},
		{name: "directory readable by others", wantErr: "chmod 700", damage: func(t *testing.T, dir string) {
			chmod(t, dir, 0o755)
		}},
		{name: "signing key missing", wantErr: ca.FileSigningKey, damage: func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, ca.FileSigningKey))
		}},
		{name: "bundle missing", wantErr: ca.FileBundle + " is missing", damage: func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, ca.FileBundle))
		}},
		{name: "key does not match certificate", wantErr: "does not match", damage: func(t *testing.T, dir string) {
			k, _ := pki.NewKey()
			data, _ := pki.EncodeKey(k)
			writeFile(t, filepath.Join(dir, ca.FileSigningKey), data, 0o600)
		}},
		{name: "signing CA from another root", wantErr: "does not chain", damage: func(t *testing.T, dir string) {
			other := initState(t)
			for _, f := range []string{ca.FileSigningCrt, ca.FileSigningKey} {
				writeFile(t, filepath.Join(dir, f), readAll(t, other)[f], 0o600)
			}
		}},
		{name: "key not PEM", wantErr: ca.FileSigningKey, damage: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, ca.FileSigningKey), []byte("garbage"), 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := initState(t)
			tt.damage(t, dir)
			_, err := ca.Load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// Restarting a CA reloads the same keys: a re-keyed CA would silently
// invalidate every agent's trust bundle.
func TestLoadNeverRekeys(t *testing.T) {
	dir := initState(t)
	first, err := ca.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ca.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Roots[0].Equal(second.Roots[0]) || !first.Signing.Equal(second.Signing) {
		t.Fatal("certificates changed between loads")
	}
	if !pki.PublicKeysEqual(first.SigningKey.Public(), second.SigningKey.Public()) {
		t.Fatal("signing key changed between loads")
	}
	if !ca.Exists(dir) || ca.Exists(t.TempDir()) {
		t.Fatal("Exists is wrong")
	}
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{ca.FileBundle, ca.FileRootCert, ca.FileRootKey, ca.FileSigningCrt, ca.FileSigningKey} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}
