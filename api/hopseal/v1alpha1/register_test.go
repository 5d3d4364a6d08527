package v1alpha1_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
)

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"AuthorizationPolicy", "AuthorizationPolicyList", "MTLSPolicy", "MTLSPolicyList"} {
		gvk := v1alpha1.GroupVersion.WithKind(kind)
		if !s.Recognizes(gvk) {
			t.Errorf("scheme does not recognise %v", gvk)
		}
		if _, err := s.New(gvk); err != nil {
			t.Errorf("new %v: %v", gvk, err)
		}
	}
	if got := v1alpha1.Resource("mtlspolicies").String(); got != "mtlspolicies.hopseal.io" {
		t.Errorf("Resource = %q", got)
	}
}

// Deep copies share nothing with the original (the generated code is in use).
func TestDeepCopy(t *testing.T) {
	ap := &v1alpha1.AuthorizationPolicy{Spec: v1alpha1.AuthorizationPolicySpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
		Ports:    []v1alpha1.Port{8080},
		From:     []v1alpha1.Peer{{ServiceAccount: &v1alpha1.ServiceAccountRef{Name: "frontend"}}},
		HTTP:     &v1alpha1.HTTPRule{Methods: []v1alpha1.HTTPMethod{"GET"}},
	}}
	cp := ap.DeepCopyObject().(*v1alpha1.AuthorizationPolicy)
	cp.Spec.Selector.MatchLabels["app"] = "x"
	cp.Spec.Ports[0] = 1
	cp.Spec.From[0].ServiceAccount.Name = "x"
	cp.Spec.HTTP.Methods[0] = "POST"
	if ap.Spec.Selector.MatchLabels["app"] != "orders" || ap.Spec.Ports[0] != 8080 || ap.Spec.From[0].ServiceAccount.Name != "frontend" || ap.Spec.HTTP.Methods[0] != "GET" {
		t.Fatalf("changing the copy changed the original: %+v", ap.Spec)
	}
}
