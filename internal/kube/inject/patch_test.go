package inject

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	jsonpatchapply "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
)

// rawPod has fields this build does not know (futureField) beside an app
// init container and a native sidecar with a probe.
const rawPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop","futureMeta":1},
"spec":{"futureSpec":"kept",
 "initContainers":[{"name":"migrate","image":"m:1","futureField":{"a":1}},
                   {"name":"shipper","image":"s:1","restartPolicy":"Always","ports":[{"name":"m","containerPort":9100}],
                    "readinessProbe":{"tcpSocket":{"port":"m"}}}],
 "containers":[{"name":"web","image":"w:1","livenessProbe":{"grpc":{"port":9090}},"futureField":true}]}}`

// applyPatch applies ops to raw as the API server would.
func applyPatch(t *testing.T, raw string, before, after *corev1.PodTemplateSpec, prefix string) map[string]any {
	t.Helper()
	ops, err := Patch(before, after, prefix)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ops)
	p, err := jsonpatchapply.DecodePatch(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply([]byte(raw))
	if err != nil {
		t.Fatalf("patch %s does not apply: %v", b, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPatchAppliesToTheStoredObject(t *testing.T) {
	var before corev1.PodTemplateSpec
	if err := json.Unmarshal([]byte(rawPod), &before); err != nil {
		t.Fatal(err)
	}
	after := mustInject(t, &before)
	got := applyPatch(t, rawPod, &before, after, "")

	// The typed view of the patched object is exactly what Pod returned.
	b, _ := json.Marshal(got)
	var typed corev1.PodTemplateSpec
	if err := json.Unmarshal(b, &typed); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(typed.Spec, after.Spec) || !reflect.DeepEqual(typed.Annotations, after.Annotations) {
		t.Fatalf("patched object differs from Pod's result:\n%s", b)
	}
	// Fields unknown to this build survive, on the containers they belong to.
	spec := got["spec"].(map[string]any)
	inits := spec["initContainers"].([]any)
	if spec["futureSpec"] != "kept" || got["metadata"].(map[string]any)["futureMeta"] == nil {
		t.Errorf("unknown pod fields lost: %s", b)
	}
	if m := inits[2].(map[string]any); m["name"] != "migrate" || m["futureField"] == nil {
		t.Errorf("the app's init container lost its unknown field or moved: %v", m)
	}
	for _, i := range []int{0, 1} {
		if _, ok := inits[i].(map[string]any)["futureField"]; ok {
			t.Errorf("hopseal's init container %d took the app's unknown field", i)
		}
	}
	if spec["containers"].([]any)[0].(map[string]any)["futureField"] != true {
		t.Errorf("app container lost its unknown field")
	}
}

func TestPatchWithoutInitContainers(t *testing.T) {
	const raw = `{"metadata":{"annotations":{"a/b":"c"}},"spec":{"containers":[{"name":"web","image":"w:1"}]}}`
	var before corev1.PodTemplateSpec
	if err := json.Unmarshal([]byte(raw), &before); err != nil {
		t.Fatal(err)
	}
	after := mustInject(t, &before)
	got := applyPatch(t, `{"spec":{"template":`+raw+`}}`, &before, after, "/spec/template")
	tmpl := got["spec"].(map[string]any)["template"].(map[string]any)
	ann := tmpl["metadata"].(map[string]any)["annotations"].(map[string]any)
	if ann["a/b"] != "c" || ann[AnnotationInjected] != "v0.4.0" {
		t.Errorf("annotations %v", ann)
	}
	if n := len(tmpl["spec"].(map[string]any)["initContainers"].([]any)); n != 2 {
		t.Errorf("%d init containers, want 2", n)
	}
}

func TestPatchRefusesOtherChanges(t *testing.T) {
	before := baseline()
	before.Spec.InitContainers = []corev1.Container{{Name: "a"}}
	after := before.DeepCopy()
	after.Spec.InitContainers = []corev1.Container{{Name: "b"}, {Name: "c"}}
	if _, err := Patch(before, after, ""); err == nil || !strings.Contains(err.Error(), "not only prepended") {
		t.Fatalf("Patch: %v", err)
	}
}
