package crds_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io"

// What `kubectl get` prints comes from the server-side Table: the printer
// columns exist and show the spec and the Accepted condition.
func TestPrinterColumns(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t)
	ap := mergePatch(t, object(t, authzBaseline), `{spec: {ports: [8080, 8443]}}`)
	created, err := e.create(t, ap, ns, false)
	if err != nil {
		t.Fatal(err)
	}
	setAccepted(t, e, created, "True")
	if _, err := e.create(t, object(t, mtlsBaseline), ns, false); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		resource string
		columns  []string
		cells    []any // the row's cells but Age
	}{
		{"authorizationpolicies", []string{"Name", "Selector", "Peers", "Ports", "Accepted", "Age"},
			[]any{"frontend-reads-orders", `{"app":"orders"}`, `[{"serviceAccount":{"name":"frontend","namespace":"shop"}}]`, "[8080,8443]", "True"}},
		{"mtlspolicies", []string{"Name", "Mode", "Selector", "Accepted", "Age"},
			[]any{"orders-permissive", "permissive", `{"app":"orders"}`, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			tbl := table(t, e, "/apis/hopseal.io/v1alpha1/namespaces/"+ns+"/"+tt.resource)
			var names []string
			for _, c := range tbl.ColumnDefinitions {
				names = append(names, c.Name)
			}
			if !slices.Equal(names, tt.columns) {
				t.Fatalf("columns %v, want %v", names, tt.columns)
			}
			if len(tbl.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(tbl.Rows))
			}
			cells := tbl.Rows[0].Cells
			if len(cells) != len(tt.columns) {
				t.Fatalf("cells %v, want %d", cells, len(tt.columns))
			}
			for i, want := range tt.cells {
				if cells[i] != want {
					t.Errorf("column %s = %#v, want %#v", names[i], cells[i], want)
				}
			}
			if age, _ := cells[len(cells)-1].(string); age == "" {
				t.Errorf("Age = %#v, want a duration", cells[len(cells)-1])
			}
		})
	}
}

func table(t *testing.T, e env, path string) metav1.Table {
	t.Helper()
	body, err := e.cs.Discovery().RESTClient().Get().AbsPath(path).SetHeader("Accept", tableAccept).DoRaw(ctx(t))
	if err != nil {
		t.Fatalf("GET %s as Table: %v", path, err)
	}
	var tbl metav1.Table
	if err := json.Unmarshal(body, &tbl); err != nil {
		t.Fatalf("decode Table: %v\n%s", err, body)
	}
	if tbl.Kind != "Table" {
		t.Fatalf("got kind %q, want Table:\n%s", tbl.Kind, body)
	}
	return tbl
}

// setAccepted writes the Accepted condition through the status subresource,
// as hopseal's controller does.
func setAccepted(t *testing.T, e env, obj *unstructured.Unstructured, status string) *unstructured.Unstructured {
	t.Helper()
	obj = obj.DeepCopy()
	cond := map[string]any{
		"type": "Accepted", "status": status, "reason": "Accepted", "message": "compiled for 2 workloads",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": obj.GetGeneration(),
	}
	if err := unstructured.SetNestedSlice(obj.Object, []any{cond}, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	got, err := e.client(t, obj, obj.GetNamespace()).UpdateStatus(ctx(t), obj, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	return got
}
