package install

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Each case changes one value of a valid baseline (the chart's defaults)
// and names what the error must say.
func TestBadValues(t *testing.T) {
	if _, err := Render("v1.0.0", nil); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for _, tc := range []struct {
		name, version, set string
		want               []string
	}{
		{"unknown key", "", "controler.replicas=2", []string{"additional properties 'controler' not allowed"}},
		{"replicas not a number", "", "controller.replicas=two", []string{"/controller/replicas", "want integer"}},
		{"no replicas", "", "controller.replicas=0", []string{"/controller/replicas"}},
		{"trust domain with capitals", "", "trustDomain=Prod.Example", []string{"/trustDomain", "does not match pattern"}},
		{"trust domain with a path", "", "trustDomain=example.org/x", []string{"/trustDomain"}},
		{"pull policy", "", "images.pullPolicy=Sometimes", []string{"/images/pullPolicy", "Always"}},
		{"tag with a plus", "", "images.proxy.tag=v1+dirty", []string{"/images/proxy/tag"}},
		{"version is no tag", "v1.0.0+dirty", "", []string{"images.controller.tag is empty", "images.proxy.tag is empty", `"v1.0.0+dirty"`}},
		{"quantity", "", "controller.resources.limits.cpu=lots", []string{"/controller/resources/limits/cpu"}},
		{"request over limit", "", "controller.resources.requests.memory=1Gi", []string{
			"controller.resources.requests.memory 1Gi is more than controller.resources.limits.memory 512Mi", "raise the limit"}},
		{"unknown resource", "", "controller.resources.limits.gpu=1", []string{"'gpu' not allowed"}},
		{"SVID lifetime", "", "ca.svidTTL=a day", []string{"/ca/svidTTL"}},
		{"disruption budget blocks drains", "", "controller.replicas=1", []string{
			"controller.podDisruptionBudget.minAvailable 1 is not less than controller.replicas 1", "e.g. to 0"}},
		{"root secret name", "", "ca.rootSecretName=My_Root", []string{"/ca/rootSecretName"}},
		{"failure policy", "", "webhook.failurePolicy=Maybe", []string{"/webhook/failurePolicy", "'Fail', 'Ignore'"}},
		{"webhook timeout", "", "webhook.timeoutSeconds=60", []string{"/webhook/timeoutSeconds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			version := "v1.0.0"
			if tc.version != "" {
				version = tc.version
			}
			values := map[string]any{}
			if tc.set != "" {
				if err := Set(values, tc.set); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Render(version, values)
			if err == nil {
				t.Fatalf("rendered with --set %s; want an error", tc.set)
			}
			for _, w := range append(tc.want, "check the values") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// Each value reaches the manifest where the controller reads it.
func TestValuesReachTheManifest(t *testing.T) {
	for _, tc := range []struct {
		name, set     string
		want, notWant []string
	}{
		{"defaults", "", []string{
			"--trust-domain=cluster.local", "--proxy-image=hopseal/proxy:v1.2.3", `image: "hopseal/hopseal:v1.2.3"`,
			"--ca-secret=hopseal-ca", "--leader-elect=true", "--data-dir=/var/lib/hopseal", "replicas: 2", "kind: Namespace",
			"failurePolicy: Fail",
		}, []string{"--root-ca-secret", "--svid-ttl"}},
		{"trust domain", "trustDomain=prod.example.com", []string{"--trust-domain=prod.example.com"}, []string{"--trust-domain=cluster.local"}},
		{"replicas", "controller.replicas=3", []string{"replicas: 3"}, []string{"replicas: 2"}},
		{"own root", "ca.rootSecretName=my-root", []string{"--root-ca-secret=my-root", `resourceNames: ["my-root"]`}, nil},
		{"no namespace", "createNamespace=false", nil, []string{"kind: Namespace"}},
		{"proxy tag", "images.proxy.tag=v9", []string{"--proxy-image=hopseal/proxy:v9", `image: "hopseal/hopseal:v1.2.3"`}, nil},
		{"controller repository", "images.controller.repository=registry.example/hopseal", []string{`image: "registry.example/hopseal:v1.2.3"`}, nil},
		{"SVID lifetime", "ca.svidTTL=12h", []string{"--svid-ttl=12h"}, nil},
		{"controller CPU limit", "controller.resources.limits.cpu=2", []string{"cpu: 2"}, nil},
		{"no controller memory limit", "controller.resources.limits.memory=null", nil, []string{"memory: 512Mi"}},
		{"log level", "controller.logLevel=debug", []string{"--log-level=debug"}, nil},
		{"no leader election", "controller.leaderElect=false", []string{"--leader-elect=false"}, nil},
		{"fail open", "webhook.failurePolicy=Ignore", []string{"failurePolicy: Ignore"}, []string{"failurePolicy: Fail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sets []string
			if tc.set != "" {
				sets = append(sets, tc.set)
			}
			out := string(render(t, goldenVersion, sets...))
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("manifest lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("manifest has %q", w)
				}
			}
		})
	}
}

func TestMerge(t *testing.T) {
	dst := map[string]any{"a": map[string]any{"b": 1, "c": 2}, "list": []any{1, 2}, "s": "x"}
	src := map[string]any{"a": map[string]any{"c": 3, "d": 4}, "list": []any{9}, "n": nil}
	got := Merge(dst, src)
	want := map[string]any{"a": map[string]any{"b": 1, "c": 3, "d": 4}, "list": []any{9}, "s": "x", "n": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge = %v, want %v", got, want)
	}
	if dst["a"].(map[string]any)["c"] != 2 {
		t.Error("Merge changed dst")
	}
}

func TestSetSyntaxError(t *testing.T) {
	err := Set(map[string]any{}, "controller.replicas")
	if err == nil || !strings.Contains(err.Error(), `--set "controller.replicas"`) || !strings.Contains(err.Error(), "key=value") {
		t.Errorf("Set without a value: %v", err)
	}
}

func TestReadValuesFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("controller:\n  replicas: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := ReadValuesFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// A file's numbers arrive as float64; the schema and the templates take them.
	if out, err := Render("v1.0.0", v); err != nil || !strings.Contains(string(out), "replicas: 3") {
		t.Errorf("render with %s: %v", good, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("controller: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadValuesFile(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml is not YAML") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := ReadValuesFile(filepath.Join(dir, "none.yaml")); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
