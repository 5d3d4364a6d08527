package check

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hopseal/hopseal/internal/pki"
)

var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func root(t *testing.T, notBefore time.Time, ttl time.Duration) *x509.Certificate {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.NewRoot(spiffeid.RequireTrustDomainFromString("check.test"), key, notBefore, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidity(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name   string
		certs  []*x509.Certificate
		status Status
		say    []string
	}{
		{"valid for years", []*x509.Certificate{root(t, now.Add(-day), 3650*day)}, Success, []string{"expires in 3649 days"}},
		{"ends within 30 days", []*x509.Certificate{root(t, now.Add(-day), 11*day)}, Warning, []string{"expires in 10 days"}},
		{"expired", []*x509.Certificate{root(t, now.Add(-400*day), 365*day)}, Error, []string{"expired", "(35 days ago)"}},
		{"not yet valid", []*x509.Certificate{root(t, now.Add(day), 365*day)}, Error, []string{"is not valid before"}},
		{"one expired among good ones", []*x509.Certificate{root(t, now.Add(-day), 3650*day), root(t, now.Add(-400*day), 365*day)},
			Error, []string{"expired", "expires in 3649 days"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validity("root", tc.certs, now)
			if o.status != tc.status {
				t.Errorf("status %s, want %s (%s)", o.status, tc.status, o.message)
			}
			for _, s := range tc.say {
				if !strings.Contains(o.message, s) {
					t.Errorf("message %q does not say %q", o.message, s)
				}
			}
			if o.status != Success && o.hint == "" {
				t.Error("no hint")
			}
		})
	}
}

func TestMissingProxy(t *testing.T) {
	enabled := map[string]string{"hopseal.io/inject": "enabled"}
	bare := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   bool
	}{
		{"running without the proxy", func(*corev1.Pod) {}, true},
		{"injected annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{"hopseal.io/injected": "v1"} }, false},
		{"proxy container", func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{{Name: "hopseal-proxy"}} }, false},
		{"opted out", func(p *corev1.Pod) { p.Annotations = map[string]string{"hopseal.io/inject": "disabled"} }, false},
		{"host network", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, false},
		{"finished", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		{"failed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, false},
		{"terminating", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} }, false},
		{"bad annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{"hopseal.io/inject": "yes"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := bare()
			tc.change(p)
			if got := missingProxy(enabled, p); got != tc.want {
				t.Errorf("missingProxy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		spec map[string]any
		want string
	}{
		{map[string]any{"mode": "permissive"}, "every workload of the namespace"},
		{map[string]any{"selector": map[string]any{}}, "every workload of the namespace"},
		{map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "legacy"}}}, "pods app=legacy"},
		{map[string]any{"selector": map[string]any{"matchExpressions": []any{
			map[string]any{"key": "tier", "operator": "In", "values": []any{"a", "b"}}}}}, "pods tier in (a,b)"},
	} {
		p := &unstructured.Unstructured{Object: map[string]any{"spec": tc.spec}}
		if got := selected(p); got != tc.want {
			t.Errorf("selected(%v) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestList(t *testing.T) {
	var names []string
	for i := range 12 {
		names = append(names, string(rune('a'+i)))
	}
	if got := list(names[:2]); got != "a, b" {
		t.Errorf("list = %q", got)
	}
	if got := list(names); got != "a, b, c, d, e, f, g, h, i, j and 2 more" {
		t.Errorf("list = %q", got)
	}
}

func crd(group, kind string, versions ...string) *unstructured.Unstructured {
	var vs []any
	for _, v := range versions {
		vs = append(vs, map[string]any{"name": v})
	}
	return &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"group": group, "names": map[string]any{"kind": kind}, "versions": vs,
	}}}
}

func TestCRDMismatch(t *testing.T) {
	ours := crd("hopseal.io", "MTLSPolicy", "v1alpha1")
	for _, tc := range []struct {
		name string
		have *unstructured.Unstructured
		want string
	}{
		{"same", crd("hopseal.io", "MTLSPolicy", "v1alpha1"), ""},
		{"older subset", crd("hopseal.io", "MTLSPolicy"), ""},
		{"other group", crd("other.io", "MTLSPolicy", "v1alpha1"), `spec.group is "other.io", want "hopseal.io"`},
		{"other kind", crd("hopseal.io", "Policy", "v1alpha1"), `spec.names.kind is "Policy", want "MTLSPolicy"`},
		{"newer version", crd("hopseal.io", "MTLSPolicy", "v1alpha1", "v1"), "serves version v1, which this hopseal does not know"},
	} {
		if got := crdMismatch(ours, tc.have); got != tc.want {
			t.Errorf("%s: crdMismatch = %q, want %q", tc.name, got, tc.want)
		}
	}
}

var sample = Report{Success: false, Categories: []Category{
	{Name: "kubernetes-api", Checks: []Result{{Description: "can query the Kubernetes API", Result: Success, Message: "Kubernetes v1.37.2"}}},
	{Name: "hopseal-identity", Checks: []Result{
		{Description: "trust roots are valid", Result: Warning, Message: "root expires in 9 days", Hint: "rotate"},
		{Description: "issuing CA is valid", Result: Error, Message: "expired", Hint: "rotate now"},
	}},
}}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sample); err != nil {
		t.Fatal(err)
	}
	want := `kubernetes-api
--------------
✔ can query the Kubernetes API (Kubernetes v1.37.2)

hopseal-identity
----------------
‼ trust roots are valid
    root expires in 9 days
    hint: rotate
✘ issuing CA is valid
    expired
    hint: rotate now

Status check results are ✘
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sample); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Success    bool `json:"success"`
		Categories []struct {
			CategoryName string           `json:"categoryName"`
			Checks       []map[string]any `json:"checks"`
		} `json:"categories"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Success || len(got.Categories) != 2 || got.Categories[1].CategoryName != "hopseal-identity" {
		t.Fatalf("decoded %+v", got)
	}
	c := got.Categories[1].Checks[1]
	if c["description"] != "issuing CA is valid" || c["result"] != "error" || c["message"] != "expired" || c["hint"] != "rotate now" {
		t.Errorf("check %v", c)
	}
	if _, has := got.Categories[0].Checks[0]["hint"]; has {
		t.Error("a success carries an empty hint")
	}
}
