package deploy

import (
	"slices"
	"strings"
	"testing"
)

func TestCRDs(t *testing.T) {
	ms := CRDs()
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
		if !strings.Contains(string(m.YAML), "kind: CustomResourceDefinition") {
			t.Errorf("%s is not a CRD manifest", m.Name)
		}
	}
	want := []string{"hopseal.io_authorizationpolicies.yaml", "hopseal.io_mtlspolicies.yaml"}
	if !slices.Equal(names, want) {
		t.Fatalf("CRDs = %v, want %v", names, want)
	}
	// Callers get their own bytes.
	ms[0].YAML[0] = 'X'
	if CRDs()[0].YAML[0] == 'X' {
		t.Fatal("a caller's change to the returned YAML reached the embedded files")
	}
}
