package crds_test

import (
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Status and spec are written through different endpoints, so the
// controller cannot change what users wrote and users cannot forge status.
func TestStatusSubresource(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t)
	for _, base := range []string{authzBaseline, mtlsBaseline} {
		obj := object(t, base)
		t.Run(obj.GetKind(), func(t *testing.T) {
			created, err := e.create(t, obj, ns, false)
			if err != nil {
				t.Fatal(err)
			}
			c := e.client(t, created, ns)
			specBefore, _, _ := unstructured.NestedMap(created.Object, "spec")

			// Through /status: the condition is stored, a spec change is not.
			viaStatus := mergePatch(t, created, `{spec: {selector: {matchLabels: {app: forged}}}}`)
			updated := setAccepted(t, e, viaStatus, "True")
			if got, _, _ := unstructured.NestedMap(updated.Object, "spec"); !reflect.DeepEqual(got, specBefore) {
				t.Fatalf("spec changed through /status: %v, was %v", got, specBefore)
			}
			if updated.GetGeneration() != created.GetGeneration() {
				t.Fatalf("generation %d after a status update, want %d", updated.GetGeneration(), created.GetGeneration())
			}
			if acceptedStatus(updated) != "True" {
				t.Fatalf("status %v, want Accepted=True", updated.Object["status"])
			}

			// Through the main resource: the spec change is stored, the
			// status change is not.
			viaMain := mergePatch(t, updated, `{spec: {selector: {matchLabels: {app: payments}}}, status: {conditions: null}}`)
			stored, err := c.Update(ctx(t), viaMain, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if app, _, _ := unstructured.NestedString(stored.Object, "spec", "selector", "matchLabels", "app"); app != "payments" {
				t.Fatalf("spec update lost: app=%q", app)
			}
			if acceptedStatus(stored) != "True" {
				t.Fatalf("status changed through the main resource: %v", stored.Object["status"])
			}
			if stored.GetGeneration() != created.GetGeneration()+1 {
				t.Fatalf("generation %d after a spec update, want %d", stored.GetGeneration(), created.GetGeneration()+1)
			}

			// The status schema is enforced too.
			bad := mergePatch(t, stored, `{status: {conditions: [{type: Accepted, status: Maybe, reason: "", message: x, lastTransitionTime: "2026-01-01T00:00:00Z"}]}}`)
			_, err = c.UpdateStatus(ctx(t), bad, metav1.UpdateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `status.conditions[0].status: Unsupported value: "Maybe"`) {
				t.Fatalf("invalid condition: %v, want Invalid naming status.conditions[0].status", err)
			}
		})
	}
}

func acceptedStatus(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Accepted" {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}
