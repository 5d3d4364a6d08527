package kubecmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runInject runs `hopseal inject args…` in process with stdin.
func runInject(stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := injectCmd(nil)
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

const injectPod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: web:1}]\n"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInjectStdinAndFlags(t *testing.T) {
	out, errOut, err := runInject(injectPod, "-", "--image", "registry.example/hopseal:v9", "--hopseal-version", "v9",
		"--trust-domain", "shop.example", "--proxy-cpu-limit", "1", "--proxy-memory-limit", "")
	if err != nil {
		t.Fatal(err)
	}
	if errOut != "pod/web injected\n" {
		t.Errorf("stderr %q", errOut)
	}
	for _, want := range []string{"image: registry.example/hopseal:v9", "hopseal.io/injected: v9", "value: shop.example", "cpu: \"1\"", "name: hopseal-proxy"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "256Mi") {
		t.Errorf("--proxy-memory-limit \"\" kept the default limit:\n%s", out)
	}
}

func TestInjectFiles(t *testing.T) {
	svc := "# keep me\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	a, b := writeFile(t, "a.yaml", injectPod), writeFile(t, "b.yaml", svc)
	out, errOut, err := runInject("", a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "---\n"+svc) || !strings.Contains(out, "hopseal.io/injected: dev") {
		t.Errorf("output:\n%s", out)
	}
	want := a + ": pod/web injected\n" + b + ": service/web skipped: not a workload with a pod template\n"
	if errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

func TestInjectErrors(t *testing.T) {
	bad := writeFile(t, "bad.yaml", injectPod+"---\nkind: [\n")
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"bad YAML names the file and document", "", []string{bad}, bad + ": document 2: "},
		{"stdin", "kind: [\n", []string{"-"}, "stdin: document 1: "},
		{"missing file", "", []string{filepath.Join(t.TempDir(), "none.yaml")}, "read "},
		{"bad annotation", strings.Replace(injectPod, "{name: web}", "{name: web, annotations: {hopseal.io/proxy-cpu-request: lots}}", 1), []string{"-"},
			`stdin: document 1: pod/web: annotation hopseal.io/proxy-cpu-request: "lots" is not a quantity`},
		{"bad quantity flag", injectPod, []string{"-", "--proxy-cpu-request", "lots"}, `--proxy-cpu-request "lots" is not a quantity`},
		{"bad pull policy", injectPod, []string{"-", "--image-pull-policy", "Sometimes"}, `image-pull-policy "Sometimes"`},
		{"request over limit", injectPod, []string{"-", "--proxy-memory-request", "1Gi"}, "proxy-memory-request 1Gi is more than proxy-memory-limit 256Mi"},
		{"no arguments", "", nil, "requires at least 1 arg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runInject(tc.stdin, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("wrote output despite the error:\n%s", out)
			}
		})
	}
}
