package discovery

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	orders      = "spiffe://example.org/ns/shop/sa/orders"
	payments    = "spiffe://example.org/ns/shop/sa/payments"
	ordersAdmin = "spiffe://example.org/ns/shop/sa/orders-admin"
)

func loadTable(t testing.TB) *Table {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestLookup(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		dst  string
		want string // "" = not in the mesh
	}{
		{"10.89.0.3:8080", orders},
		{"10.89.0.3:1", orders},
		{"10.89.0.3:9000", ordersAdmin},
		{"10.89.0.4:8080", orders},
		{"10.89.0.4:9090", payments},
		{"10.89.0.4:9091", ""},
		{"10.89.0.5:8080", ""},
		{"[fd00::3]:443", orders},
		{"[fd00::3%eth0]:443", orders},
		{"[fd00::4]:8443", payments},
		{"[fd00::4]:8080", ""},
		{"[::ffff:10.89.0.3]:8080", orders},
		{"[::ffff:10.89.0.4]:9090", payments},
	}
	for _, tt := range tests {
		id, ok := tab.Lookup(netip.MustParseAddrPort(tt.dst))
		if ok != (tt.want != "") || (ok && id.String() != tt.want) {
			t.Errorf("Lookup(%s) = %v, %v; want %q", tt.dst, id, ok, tt.want)
		}
	}
	var none *Table
	if _, ok := none.Lookup(netip.MustParseAddrPort("10.89.0.3:8080")); ok || none.Len() != 0 {
		t.Error("a nil table found an address")
	}
	if n := tab.Len(); n != 6 {
		t.Errorf("Len = %d, want 6", n)
	}
}

const baseline = `workloads:
  - spiffe_id: spiffe://example.org/ns/shop/sa/orders
    addresses: [10.89.0.3, "10.89.0.4:8080"]
`

func TestParse(t *testing.T) {
	tests := []struct {
		name, old, new string
		wantErr        string // "" = valid
	}{
		{name: "baseline"},
		{name: "IPv6", old: "10.89.0.3,", new: `"fd00::3",`},
		{name: "IPv6 with port", old: `"10.89.0.4:8080"`, new: `"[fd00::4]:8080"`},
		{name: "IPv4-mapped is the IPv4 address", old: `"10.89.0.4:8080"`, new: `"::ffff:10.89.0.3"`},
		{name: "unknown top-level key", old: "workloads:", new: "workload:", wantErr: "workload (line 1) is not a known key; known keys here: workloads"},
		{name: "unknown workload key", old: "addresses:", new: "address:", wantErr: "workloads[0].address (line 3) is not a known key; known keys here: addresses, spiffe_id"},
		{name: "missing ID", old: "spiffe_id: spiffe://example.org/ns/shop/sa/orders", new: `spiffe_id: ""`, wantErr: "workloads[0].spiffe_id is required"},
		{name: "invalid ID", old: "sa/orders", new: "sa/*", wantErr: `workloads[0].spiffe_id: "spiffe://example.org/ns/shop/sa/*" is not a SPIFFE ID`},
		{name: "trust domain ID", old: "/ns/shop/sa/orders", new: "", wantErr: "names a whole trust domain"},
		{name: "no addresses", old: `[10.89.0.3, "10.89.0.4:8080"]`, new: "[]", wantErr: "workloads[0].addresses is empty"},
		{name: "hostname", old: "10.89.0.3,", new: "orders.shop,", wantErr: `workloads[0].addresses[0]: "orders.shop" is not an IP or IP:port`},
		{name: "CIDR", old: "10.89.0.3,", new: "10.89.0.0/24,", wantErr: "is not an IP or IP:port"},
		{name: "port zero", old: `"10.89.0.4:8080"`, new: `"10.89.0.4:0"`, wantErr: `workloads[0].addresses[1]: "10.89.0.4:0" has port 0`},
		{name: "port too big", old: `"10.89.0.4:8080"`, new: `"10.89.0.4:65536"`, wantErr: "is not an IP or IP:port"},
		{name: "zone", old: "10.89.0.3,", new: `"fe80::1%eth0",`, wantErr: "has an IPv6 zone"},
		{name: "unspecified", old: "10.89.0.3,", new: "0.0.0.0,", wantErr: "unspecified address"},
		{name: "same address, same ID", old: "", new: "  - {spiffe_id: spiffe://example.org/ns/shop/sa/orders, addresses: [10.89.0.3]}\n"},
		{name: "same address, other ID", old: "", new: "  - {spiffe_id: spiffe://example.org/ns/shop/sa/other, addresses: [10.89.0.3]}\n",
			wantErr: `workloads[1].addresses[0]: "10.89.0.3" maps to spiffe://example.org/ns/shop/sa/other, but workloads[0].addresses[0] already maps it to spiffe://example.org/ns/shop/sa/orders`},
		{name: "same IP:port, other ID", old: "", new: "  - {spiffe_id: spiffe://example.org/ns/shop/sa/other, addresses: [\"10.89.0.4:8080\"]}\n",
			wantErr: "but workloads[0].addresses[1] already maps it to"},
		{name: "mapped form of a taken address", old: "", new: "  - {spiffe_id: spiffe://example.org/ns/shop/sa/other, addresses: [\"::ffff:10.89.0.3\"]}\n",
			wantErr: "already maps it to"},
		{name: "IP:port under another ID's IP", old: "", new: "  - {spiffe_id: spiffe://example.org/ns/shop/sa/other, addresses: [\"10.89.0.3:9000\"]}\n"},
		{name: "no workloads", old: baseline, new: "workloads: []\n"},
		{name: "workloads missing", old: baseline, new: "{}\n", wantErr: "workloads is required"},
		{name: "empty file", old: baseline, new: "", wantErr: "file is empty"},
		{name: "second document", old: "", new: "---\nworkloads: []\n", wantErr: "more than one YAML document"},
		{name: "not YAML", old: baseline, new: "workloads: [", wantErr: "discovery: yaml:"},
		{name: "too big", old: baseline, new: "#" + strings.Repeat("x", MaxSize), wantErr: "over the 8388608-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := baseline + tt.new
			if tt.old != "" {
				if !strings.Contains(baseline, tt.old) {
					t.Fatalf("test bug: %q is not in the baseline", tt.old)
				}
				src = strings.Replace(baseline, tt.old, tt.new, 1)
			}
			tab, err := Parse([]byte(src))
			if tt.wantErr == "" {
				if err != nil || tab == nil {
					t.Fatalf("Parse:\n%s\nerror: %v", src, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse:\n%s\nerror = %v\nwant it to contain %q", src, err, tt.wantErr)
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	got, err := json.Marshal(loadTable(t))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"workloads":[` +
		`{"spiffe_id":"spiffe://example.org/ns/shop/sa/orders","addresses":["10.89.0.3","10.89.0.4:8080","fd00::3"]},` +
		`{"spiffe_id":"spiffe://example.org/ns/shop/sa/orders-admin","addresses":["10.89.0.3:9000"]},` +
		`{"spiffe_id":"spiffe://example.org/ns/shop/sa/payments","addresses":["10.89.0.4:9090","[fd00::4]:8443"]}]}`
	if string(got) != want {
		t.Fatalf("json.Marshal:\n got %s\nwant %s", got, want)
	}
	empty, err := Parse([]byte("workloads: []"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := json.Marshal(empty); err != nil || string(got) != `{"workloads":[]}` {
		t.Fatalf("empty table: %s %v", got, err)
	}
}

func TestNew(t *testing.T) {
	a, b := "spiffe://example.org/ns/shop/sa/a", "spiffe://example.org/ns/shop/sa/b"
	tab, err := New([]Destination{
		{Address: "10.96.0.10:80", IDs: []string{b, a, b}}, // a Service with two service accounts
		{Address: "10.89.0.3", IDs: []string{a}, PlaintextPorts: []uint16{14090}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tab.Lookup(netip.MustParseAddrPort("10.96.0.10:80")); !ok || got.String() != a+" or "+b {
		t.Errorf("Service address: %v, %v; want both identities, sorted, once each", got, ok)
	}
	if _, ok := tab.Lookup(netip.MustParseAddrPort("10.96.0.10:81")); ok {
		t.Error("another port of the Service address matched")
	}
	if got, ok := tab.Lookup(netip.MustParseAddrPort("10.89.0.3:9")); !ok || got.String() != a {
		t.Errorf("pod address: %v, %v; want %s", got, ok, a)
	}
	if got, ok := tab.Lookup(netip.MustParseAddrPort("10.89.0.3:14090")); ok {
		t.Errorf("a plaintext port of the pod: %v; want not meshed", got)
	}

	bad := []struct {
		name  string
		dests []Destination
		want  string
	}{
		{"no identity", []Destination{{Address: "10.89.0.3"}}, "destinations[0].ids"},
		{"not an ID", []Destination{{Address: "10.89.0.3", IDs: []string{"orders"}}}, "destinations[0].ids[0]"},
		{"bad address", []Destination{{Address: "pod-a", IDs: []string{a}}}, "destinations[0].address"},
		{"plaintext port of IP:port", []Destination{{Address: "10.89.0.3:80", IDs: []string{a}, PlaintextPorts: []uint16{81}}}, "destinations[0].plaintext_ports"},
		{"twice", []Destination{{Address: "10.89.0.3", IDs: []string{a}}, {Address: "10.89.0.3", IDs: []string{b}}}, "appears twice"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.dests); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v; want an error naming %q", err, tt.want)
			}
		})
	}
}
