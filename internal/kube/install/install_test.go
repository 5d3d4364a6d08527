package install

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/hopseal/hopseal/deploy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current chart")

// goldenVersion shows where the hopseal version lands (labels, image tags).
const goldenVersion = "v1.2.3"

func render(t *testing.T, version string, sets ...string) []byte {
	t.Helper()
	values := map[string]any{}
	for _, s := range sets {
		if err := Set(values, s); err != nil {
			t.Fatal(err)
		}
	}
	out, err := Render(version, values)
	if err != nil {
		t.Fatalf("render with %v: %v", sets, err)
	}
	return out
}

func TestGolden(t *testing.T) {
	got := render(t, goldenVersion)
	path := filepath.Join("testdata", "install.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rendered manifests changed (if intended, run go test ./internal/kube/install -run TestGolden -update):\n%s",
			firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first line that differs, with a little context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		if i >= len(w) || i >= len(g) || w[i] != g[i] {
			lo := max(i-3, 0)
			return "want:\n" + strings.Join(w[lo:min(i+3, len(w))], "\n") + "\ngot:\n" + strings.Join(g[lo:min(i+3, len(g))], "\n")
		}
	}
	return ""
}

// Helm reads CRDs only from the chart's crds/, so the chart carries copies
// of deploy/crds, which scripts/gen-crds.sh generates.
func TestChartCRDsAreDeployCRDs(t *testing.T) {
	var chartCRDs []string
	err := fs.WalkDir(deploy.Chart(), "crds", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			chartCRDs = append(chartCRDs, name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range deploy.CRDs() {
		names = append(names, "crds/"+m.Name)
		got, err := fs.ReadFile(deploy.Chart(), "crds/"+m.Name)
		if err != nil || !bytes.Equal(got, m.YAML) {
			t.Errorf("deploy/chart/hopseal/crds/%s differs from deploy/crds/%s (err %v): copy them again: cp deploy/crds/*.yaml deploy/chart/hopseal/crds/",
				m.Name, m.Name, err)
		}
	}
	if !slices.Equal(chartCRDs, names) {
		t.Errorf("chart CRDs %v, deploy/crds has %v: make deploy/chart/hopseal/crds hold exactly deploy/crds/*.yaml", chartCRDs, names)
	}
}

// The embedded chart is the directory Helm users install: loading the
// directory as `helm` does (LoadDir honours .helmignore) renders the same.
func TestEmbeddedChartIsTheDirectory(t *testing.T) {
	ch, err := loader.LoadDir(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.AppVersion = goldenVersion
	fromDir, err := RenderChart(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if embedded := render(t, goldenVersion); !bytes.Equal(fromDir, embedded) {
		t.Errorf("the chart directory renders differently from the embedded chart:\n%s", firstDiff(string(fromDir), string(embedded)))
	}
}

func chartDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "deploy", "chart", "hopseal"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// With the helm CLI at hand, `helm template` prints exactly what install
// does. The CLI is optional (building it costs minutes); the test above
// covers the same path through Helm's SDK.
func TestHelmTemplateAgrees(t *testing.T) {
	helm, err := exec.LookPath("helm")
	if err != nil {
		t.Skip("the helm CLI is not installed; TestEmbeddedChartIsTheDirectory compares through Helm's SDK")
	}
	sets := []string{"trustDomain=prod.example.com", "controller.replicas=3", "ca.rootSecretName=my-root"}
	args := []string{"template", "hopseal", chartDir(t), "--include-crds", "--namespace", Namespace}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %v: %v\n%s", args, err, stderr.String())
	}
	// The chart's appVersion (dev) is what helm uses as the default tag.
	if got := render(t, "dev", sets...); !bytes.Equal(got, want) {
		t.Errorf("hopseal install differs from helm template:\n%s", firstDiff(string(want), string(got)))
	}
}

func TestOrderForKubectlApply(t *testing.T) {
	objs, err := deploy.Objects(render(t, goldenVersion))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
		if ns := o.GetNamespace(); ns != "" && ns != Namespace {
			t.Errorf("%s %s is in namespace %q, want %s", o.GetKind(), o.GetName(), ns, Namespace)
		}
	}
	want := []string{
		"CustomResourceDefinition", "CustomResourceDefinition", "Namespace", "PodDisruptionBudget", "ServiceAccount",
		"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment", "MutatingWebhookConfiguration",
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds in order %v, want %v", kinds, want)
	}
}
