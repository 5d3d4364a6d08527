package inject

import (
	"errors"
	"strings"
	"testing"
)

const deploymentDoc = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1}]
`

func TestYAMLErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"syntax in the second document", deploymentDoc + "---\nkind: [Pod\n", "document 2: "},
		{"documents after a leading separator", "---\n" + deploymentDoc + "--- # next\n\n---\nkind: [Pod\n", "document 2: "},
		{"bad separator", deploymentDoc + "--- kind: Pod\n", `after document 1: "--- kind: Pod" is not a document separator`},
		{"not a mapping", deploymentDoc + "---\n- a\n- b\n", "document 2: not a Kubernetes object"},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", "document 1: not a Kubernetes object: it needs apiVersion and kind"},
		{"no template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n", "document 1: deployment/web: spec.template is missing"},
		{"template of the wrong type", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {template: {spec: {containers: 3}}}\n", "document 1: job/j: pod template: "},
		{"bad annotation", strings.Replace(deploymentDoc, "metadata: {labels", "metadata: {annotations: {hopseal.io/exclude-inbound-ports: x}, labels", 1),
			`document 1: deployment/web: annotation hopseal.io/exclude-inbound-ports: "x" is not a list of ports`},
		{"list item", "apiVersion: v1\nkind: List\nitems: [3]\n", "document 1: items[0] is not an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := YAML(testConfig(), []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	_, _, err := YAML(testConfig(), []byte(strings.Replace(deploymentDoc, "metadata: {labels", "metadata: {annotations: {hopseal.io/proxy-cpu-limit: lots}, labels", 1)))
	var ae *AnnotationError
	if !errors.As(err, &ae) || ae.Annotation != AnnotationProxyCPULimit {
		t.Errorf("annotation errors keep their type through YAML: %v", err)
	}
}

func TestYAMLLeavesOtherKindsAlone(t *testing.T) {
	for _, in := range []string{
		"apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: crd}\nspec: {template: 1}\n",
		"apiVersion: example.com/v1\nkind: Pod\nmetadata: {name: crd}\n",
		"apiVersion: v1\nkind: Secret # a comment\nmetadata: {name: s}\n",
		"",
		"# nothing\n",
		"\r",
		"---\r\napiVersion: v1\r\nkind: Secret\r\nmetadata: {name: s}\r\n--- # next\r\napiVersion: v1\nkind: Service\nmetadata: {name: x}",
	} {
		out, results, err := YAML(testConfig(), []byte(in))
		if err != nil || string(out) != in {
			t.Errorf("%q: out %q, err %v; want it unchanged", in, out, err)
		}
		for _, r := range results {
			if r.Injected || !strings.Contains(r.String(), "skipped: not a workload") {
				t.Errorf("%q: %s", in, r)
			}
		}
	}
}
