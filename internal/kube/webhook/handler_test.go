package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatchapply "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hopseal/hopseal/internal/kube/inject"
)

// namespaces: "meshed" is labelled for injection, "plain" is not, and any
// other name fails to load.
var namespaces = LabelsFunc(func(_ context.Context, name string) (map[string]string, error) {
	switch name {
	case "meshed":
		return map[string]string{inject.LabelInject: inject.Enabled}, nil
	case "plain":
		return map[string]string{"team": "a"}, nil
	}
	return nil, errors.New("etcdserver: leader changed (internal detail)")
})

func testHandler() *Handler {
	return &Handler{Config: inject.Defaults("v0.4.0"), Namespaces: namespaces}
}

func podJSON(t *testing.T, annotations map[string]string, change func(*corev1.Pod)) []byte {
	t.Helper()
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
	}
	if change != nil {
		change(p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reviewBody(t *testing.T, namespace string, pod []byte) []byte {
	t.Helper()
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("req-1"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: namespace, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: pod},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends body to h and decodes the response.
func post(t *testing.T, h http.Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil || out.Response.UID != "req-1" {
		t.Fatalf("response %+v does not echo the review's type and UID", out)
	}
	return out.Response
}

// patched applies a response's patch to pod and decodes the result.
func patched(t *testing.T, pod []byte, r *admissionv1.AdmissionResponse) *corev1.Pod {
	t.Helper()
	if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", r.PatchType)
	}
	p, err := jsonpatchapply.DecodePatch(r.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(pod)
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func TestHandlerDecides(t *testing.T) {
	on := map[string]string{inject.AnnotationInject: inject.Enabled}
	off := map[string]string{inject.AnnotationInject: inject.Disabled}
	cases := []struct {
		name        string
		namespace   string
		annotations map[string]string
		change      func(*corev1.Pod)
		injected    bool
		warning     string // a substring of the only warning, if any
	}{
		{"labelled namespace", "meshed", nil, nil, true, ""},
		{"unlabelled namespace", "plain", nil, nil, false, ""},
		{"pod opts in", "plain", on, nil, true, ""},
		{"pod opts in where the namespace cannot be read", "broken", on, nil, true, ""},
		{"pod opts out", "meshed", off, nil, false, ""},
		{"pod opts out where the namespace cannot be read", "broken", off, nil, false, ""},
		{"unknown annotation", "meshed", map[string]string{"hopseal.io/injekt": "x"}, nil, true, "did you mean hopseal.io/inject"},
		{"hostNetwork", "meshed", nil, func(p *corev1.Pod) { p.Spec.HostNetwork = true }, false, "pod not injected: hostNetwork"},
		{"already injected", "meshed", map[string]string{inject.AnnotationInjected: "v0.3.0"}, nil, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := podJSON(t, tc.annotations, tc.change)
			r := post(t, testHandler(), reviewBody(t, tc.namespace, pod))
			if !r.Allowed {
				t.Fatalf("denied: %v", r.Result)
			}
			if tc.warning == "" && len(r.Warnings) != 0 || tc.warning != "" && (len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], tc.warning)) {
				t.Errorf("warnings %q, want one with %q", r.Warnings, tc.warning)
			}
			if !tc.injected {
				if r.Patch != nil {
					t.Fatalf("patched a pod that should be left alone: %s", r.Patch)
				}
				return
			}
			got := patched(t, pod, r)
			if len(got.Spec.InitContainers) != 2 || got.Spec.InitContainers[1].Name != inject.ProxyName || got.Annotations[inject.AnnotationInjected] != "v0.4.0" {
				t.Fatalf("patched pod %+v", got)
			}
		})
	}
}

func TestHandlerDenies(t *testing.T) {
	cases := []struct {
		name        string
		namespace   string
		annotations map[string]string
		code        int32
		message     string
	}{
		{"bad inject annotation", "plain", map[string]string{inject.AnnotationInject: "yes"}, 400,
			`hopseal: annotation hopseal.io/inject: "yes" is not enabled or disabled`},
		{"bad port annotation", "meshed", map[string]string{inject.AnnotationExcludeInboundPorts: "ssh"}, 400,
			`hopseal: cannot inject this pod: annotation hopseal.io/exclude-inbound-ports: "ssh" is not a list of ports`},
		{"namespace cannot be read", "broken", nil, 500,
			"hopseal: cannot read namespace broken to decide whether to inject this pod, so it is refused rather than run without mutual TLS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, testHandler(), reviewBody(t, tc.namespace, podJSON(t, tc.annotations, nil)))
			if r.Allowed || r.Result == nil || r.Result.Code != tc.code || !strings.HasPrefix(r.Result.Message, tc.message) {
				t.Fatalf("allowed %v, result %+v; want denied with %d %q", r.Allowed, r.Result, tc.code, tc.message)
			}
			if strings.Contains(r.Result.Message, "internal detail") {
				t.Errorf("internal error text sent to the client: %q", r.Result.Message)
			}
		})
	}
}

func TestHandlerIgnoresOtherRequests(t *testing.T) {
	body := reviewBody(t, "meshed", podJSON(t, nil, nil))
	var review admissionv1.AdmissionReview
	json.Unmarshal(body, &review)
	review.Request.Operation = admissionv1.Update
	b, _ := json.Marshal(review)
	if r := post(t, testHandler(), b); !r.Allowed || r.Patch != nil {
		t.Errorf("update: allowed %v, patch %s; want allowed untouched", r.Allowed, r.Patch)
	}
	review.Request.Operation = admissionv1.Create
	review.Request.Kind = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	b, _ = json.Marshal(review)
	if r := post(t, testHandler(), b); !r.Allowed || r.Patch != nil {
		t.Errorf("deployment: allowed %v, patch %s; want allowed untouched", r.Allowed, r.Patch)
	}
}

func TestHandlerRefusesBadRequests(t *testing.T) {
	good := reviewBody(t, "meshed", podJSON(t, nil, nil))
	cases := []struct {
		name, method, contentType string
		body                      []byte
		want                      int
	}{
		{"get", http.MethodGet, "application/json", nil, 405},
		{"form", http.MethodPost, "text/plain", good, 415},
		{"garbage", http.MethodPost, "application/json", []byte("{"), 400},
		{"no request", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400},
		{"v1beta1", http.MethodPost, "application/json", bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1), 400},
		{"too large", http.MethodPost, "application/json", bytes.Repeat([]byte(" "), maxReview+1), 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, Path, bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			w := httptest.NewRecorder()
			testHandler().ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.want)
			}
		})
	}
}
