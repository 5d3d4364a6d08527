package install_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hopseal/hopseal/internal/testenv"
)

// The flags of `hopseal install` and `hopseal check`, through the binary.
// Each case changes one thing from plain `hopseal install`.
func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	three := write("three.yaml", "controller:\n  replicas: 3\n")
	five := write("five.yaml", "controller:\n  replicas: 5\ntrustDomain: five.example\n")
	typo := write("typo.yaml", "controler:\n  replicas: 3\n")
	for _, tc := range []struct {
		name      string
		args      []string
		stdout    []string // in the manifest
		notStdout []string
		stderr    []string // in the error; set: the command fails
	}{
		{"defaults", nil, []string{"--trust-domain=cluster.local", "replicas: 2", "kind: MutatingWebhookConfiguration"}, []string{"--root-ca-secret"}, nil},
		{"trust domain", []string{"--trust-domain", "prod.example.com"}, []string{"--trust-domain=prod.example.com"}, nil, nil},
		{"trust domain flag wins over --set", []string{"--set", "trustDomain=a.example", "--trust-domain", "b.example"}, []string{"--trust-domain=b.example"}, nil, nil},
		{"root CA secret", []string{"--root-ca-secret", "my-root"}, []string{"--root-ca-secret=my-root"}, nil, nil},
		{"values file", []string{"--values", three}, []string{"replicas: 3"}, nil, nil},
		{"later values file wins", []string{"-f", three, "-f", five}, []string{"replicas: 5", "--trust-domain=five.example"}, nil, nil},
		{"--set wins over files", []string{"-f", five, "--set", "controller.replicas=4"}, []string{"replicas: 4", "--trust-domain=five.example"}, nil, nil},
		{"several values in one --set", []string{"--set", "controller.replicas=3,createNamespace=false"}, []string{"replicas: 3"}, []string{"kind: Namespace"}, nil},

		{"unknown key", []string{"--set", "controler.replicas=2"}, nil, nil, []string{"check the values", "'controler' not allowed"}},
		{"unknown key in a file", []string{"-f", typo}, nil, nil, []string{"'controler' not allowed"}},
		{"missing values file", []string{"-f", filepath.Join(dir, "none.yaml")}, nil, nil, []string{"none.yaml"}},
		{"bad trust domain", []string{"--trust-domain", "Prod"}, nil, nil, []string{"/trustDomain"}},
		{"--set without a value", []string{"--set", "controller.replicas"}, nil, nil, []string{"key=value"}},
		{"request over limit", []string{"--set", "controller.resources.requests.memory=1Gi"}, nil, nil, []string{"controller.resources.requests.memory 1Gi is more than"}},
		{"arguments", []string{"extra"}, nil, nil, []string{"unknown command"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := testenv.Exec{}.Output(t, dir, append([]string{"install"}, tc.args...)...)
			if tc.stderr != nil {
				if err == nil {
					t.Fatalf("hopseal install %v succeeded; want an error", tc.args)
				}
				if stdout != "" {
					t.Errorf("a failed install printed manifests:\n%.200s", stdout)
				}
				for _, s := range tc.stderr {
					if !strings.Contains(stderr, s) {
						t.Errorf("stderr does not say %q:\n%s", s, stderr)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("hopseal install %v: %v\n%s", tc.args, err, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("manifest lacks %q", s)
				}
			}
			for _, s := range tc.notStdout {
				if strings.Contains(stdout, s) {
					t.Errorf("manifest has %q", s)
				}
			}
		})
	}
	// Every flag the chart passes is one `hopseal controller` takes (with
	// --help it parses them, then prints its usage instead of starting).
	t.Run("the controller takes the chart's arguments", func(t *testing.T) {
		for _, set := range []string{"ca.svidTTL=12h", "ca.rootSecretName=my-root", "controller.logLevel=debug"} {
			var args []string
			for _, o := range hopsealInstall(t, "--set", set) {
				if o.GetKind() == "Deployment" {
					containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					for _, a := range containers[0].(map[string]any)["args"].([]any) {
						args = append(args, a.(string))
					}
				}
			}
			if len(args) == 0 || args[0] != "controller" {
				t.Fatalf("the Deployment's args %v do not run hopseal controller", args)
			}
			_, stderr, err := testenv.Exec{}.Output(t, dir, append(args, "--help")...)
			if err != nil {
				t.Errorf("hopseal %v: %v\n%s", args, err, stderr)
			}
		}
	})
	t.Run("check output format", func(t *testing.T) {
		_, stderr, err := testenv.Exec{}.Output(t, dir, "check", "-o", "yaml")
		if err == nil || !strings.Contains(stderr, `--output "yaml": use text or json`) {
			t.Errorf("check -o yaml: %v\n%s", err, stderr)
		}
	})
	t.Run("check without a cluster", func(t *testing.T) {
		r := hopsealCheck(t, filepath.Join(dir, "no-kubeconfig"))
		r.exit(t, 1)
		r.expect(t, "can initialize the client", "error", "no-kubeconfig")
		if len(r.report.Categories) != 1 {
			t.Errorf("categories %v: nothing runs without a client", r.categories())
		}
	})
}
