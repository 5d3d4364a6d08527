package discovery

import (
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/mesh.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(baseline))
	f.Add([]byte("workloads: [{spiffe_id: spiffe://a/b, addresses: ['::ffff:1.2.3.4', '[::1]:1']}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse(data)
		if err != nil {
			return
		}
		for ap, ids := range tab.exact {
			if len(ids) != 1 {
				t.Fatalf("%s -> %v: a file gives an address one identity", ap, ids)
			}
			id := ids[0]
			if id.IsZero() || id.Path() == "" || ap.Port() == 0 || ap.Addr().Is4In6() || ap.Addr().Zone() != "" {
				t.Fatalf("accepted %s -> %v", ap, id)
			}
			if got, ok := tab.Lookup(ap); !ok || got.String() != id.String() {
				t.Fatalf("Lookup(%s) = %v, %v; want %v", ap, got, ok, id)
			}
		}
		for a, ids := range tab.host {
			if len(ids) != 1 {
				t.Fatalf("%s -> %v: a file gives an address one identity", a, ids)
			}
			id := ids[0]
			if id.IsZero() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified() {
				t.Fatalf("accepted %s -> %v", a, id)
			}
			if _, ok := tab.Lookup(netip.AddrPortFrom(a, 1)); !ok {
				t.Fatalf("Lookup(%s:1) missed", a)
			}
		}
		if _, err := json.Marshal(tab); err != nil {
			t.Fatal(err)
		}
	})
}
