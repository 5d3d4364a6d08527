package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// FIPSModule is the Go FIPS 140-3 module hopseal's FIPS builds use.
const FIPSModule = "v1.0.0"

var (
	fipsOnce sync.Once
	fipsPath string
	fipsErr  error
)

// FIPSBinary builds hopseal once per test process against Go's frozen FIPS
// 140-3 module (GOFIPS140=v1.0.0) and returns its path. Run it with
// GODEBUG=fips140=only to refuse every non-approved algorithm.
func FIPSBinary(t testing.TB) string {
	t.Helper()
	fipsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hopseal-fips-bin-")
		if err != nil {
			fipsErr = err
			return
		}
		fipsPath = filepath.Join(dir, "hopseal")
		cmd := exec.Command("go", "build", "-o", fipsPath, "./cmd/hopseal")
		cmd.Dir = RepoRoot(t)
		cmd.Env = append(os.Environ(), "GOFIPS140="+FIPSModule)
		if out, err := cmd.CombinedOutput(); err != nil {
			fipsErr = fmt.Errorf("go build with GOFIPS140=%s: %v\n%s", FIPSModule, err, out)
		}
	})
	if fipsErr != nil {
		t.Fatal(fipsErr)
	}
	return fipsPath
}

// RemoveBuilds deletes the binaries Binary and FIPSBinary built; call it from
// TestMain after m.Run so test runs leave no binaries behind.
func RemoveBuilds() {
	for _, p := range []string{buildPath, fipsPath} {
		if p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
	}
}
