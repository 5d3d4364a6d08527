package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// FIPSModule is the Go FIPS 140-3 module hopseal's FIPS builds use.
const FIPSModule = "v1.0.0"

// build is one hopseal binary, built at most once per test process.
type build struct {
	pkg  string // "hopseal" or "hopseal-proxy", under ./cmd
	once sync.Once
	path string
	err  error
}

var (
	plainBuild = build{pkg: "hopseal"}
	fipsBuild  = build{pkg: "hopseal"}
	proxyBuild = build{pkg: "hopseal-proxy"}
)

// Binary builds the hopseal binary once per test process and returns its path.
// HOPSEAL_BIN overrides it.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HOPSEAL_BIN"); p != "" {
		return p
	}
	return plainBuild.get(t)
}

// ProxyBinary builds hopseal-proxy, the data plane as sidecars run it, once
// per test process. HOPSEAL_PROXY_BIN overrides it.
func ProxyBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HOPSEAL_PROXY_BIN"); p != "" {
		return p
	}
	return proxyBuild.get(t)
}

// FIPSBinary builds hopseal against Go's frozen FIPS 140-3 module
// (GOFIPS140=v1.0.0). Run it with GODEBUG=fips140=only to refuse every
// non-approved algorithm.
func FIPSBinary(t testing.TB) string {
	t.Helper()
	return fipsBuild.get(t, "GOFIPS140="+FIPSModule)
}

func (b *build) get(t testing.TB, env ...string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "hopseal-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.pkg)
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/"+b.pkg)
		cmd.Dir = RepoRoot(t)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%s go build: %v\n%s", strings.Join(env, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// RemoveBuilds deletes the binaries Binary and FIPSBinary built; call it from
// TestMain after m.Run so test runs leave no binaries behind.
func RemoveBuilds() {
	for _, b := range []*build{&plainBuild, &fipsBuild, &proxyBuild} {
		if b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
	}
}
