package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

const controllerGen = "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"

// The committed deepcopy code and CRDs are what scripts/gen-crds.sh makes
// from the types now: a marker or doc comment changed without regenerating
// fails here. Without controller-gen (first build needs its module) the test
// skips, and fails under HOPSEAL_TEST_STRICT=1.
func TestGeneratedFilesFresh(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	install := exec.Command("go", "install", controllerGen)
	install.Env = append(os.Environ(), "GOBIN="+tmp)
	if out, err := install.CombinedOutput(); err != nil {
		testenv.Skip(t, "cannot build %s, so the generated files go unchecked: %v\n%s", controllerGen, err, out)
	}
	out := filepath.Join(tmp, "out")
	gen := exec.Command(filepath.Join(root, "scripts", "gen-crds.sh"), out)
	gen.Env = append(os.Environ(), "CONTROLLER_GEN="+filepath.Join(tmp, "controller-gen"))
	if b, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("scripts/gen-crds.sh: %v\n%s", err, b)
	}

	same(t, filepath.Join(out, "zz_generated.deepcopy.go"), "zz_generated.deepcopy.go")
	fresh, _ := filepath.Glob(filepath.Join(out, "crds", "*.yaml"))
	committed, _ := filepath.Glob(filepath.Join(root, "deploy", "crds", "*.yaml"))
	if !slices.Equal(baseNames(fresh), baseNames(committed)) {
		t.Fatalf("deploy/crds holds %v, controller-gen makes %v: run scripts/gen-crds.sh", baseNames(committed), baseNames(fresh))
	}
	for _, f := range fresh {
		same(t, f, filepath.Join(root, "deploy", "crds", filepath.Base(f)))
	}
}

// same fails, naming the first differing line, unless the committed file
// equals the freshly generated one.
func same(t *testing.T, generated, committed string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v: run scripts/gen-crds.sh", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s is stale (run scripts/gen-crds.sh); first difference at line %d:\n committed: %q\n generated: %q", filepath.Base(committed), i+1, g, w)
			return
		}
	}
}

func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	return out
}
