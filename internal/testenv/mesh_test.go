package testenv

import (
	"net/netip"
	"testing"

	"github.com/hopseal/hopseal/internal/discovery"
)

func TestDiscoveryYAMLMapsMeshedPods(t *testing.T) {
	pod := func(name, ip string, noProxy bool) *MeshPod {
		a := netip.MustParseAddr(ip)
		p := &MeshPod{Pod: &Pod{Name: name, IP: a, IP6: embed4(a)}, Spec: PodSpec{Name: name, NoProxy: noProxy}}
		if !noProxy {
			p.ID = "spiffe://mesh.test/ns/shop/sa/" + name
		}
		return p
	}
	pods := []*MeshPod{pod("a", "10.89.7.2", false), pod("plain", "10.89.7.3", true), pod("b", "10.89.7.4", false)}
	table, err := discovery.Parse([]byte(discoveryYAML(pods)))
	if err != nil {
		t.Fatalf("discovery file the mesh writes: %v\n%s", err, discoveryYAML(pods))
	}
	cases := []struct {
		dst  string
		want string // "" = not in the mesh
	}{
		{"10.89.7.2:8080", "spiffe://mesh.test/ns/shop/sa/a"},
		{"[fd89:6873::a59:702]:9000", "spiffe://mesh.test/ns/shop/sa/a"},
		{"10.89.7.4:1", "spiffe://mesh.test/ns/shop/sa/b"},
		{"10.89.7.3:8080", ""},
		{"10.89.7.1:8080", ""},
	}
	for _, tc := range cases {
		id, ok := table.Lookup(netip.MustParseAddrPort(tc.dst))
		if got := id.String(); ok != (tc.want != "") || (ok && got != tc.want) {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tc.dst, got, ok, tc.want)
		}
	}
	if got := discoveryYAML([]*MeshPod{pods[1]}); got != "workloads: []\n" {
		t.Errorf("discovery without meshed pods: %q", got)
	}
}

func TestTCPConnFinished(t *testing.T) {
	ap := netip.MustParseAddrPort
	s := func(src, dst string, fin, rst bool) *TCPStream {
		return &TCPStream{Src: ap(src), Dst: ap(dst), SYN: true, FIN: fin, RST: rst}
	}
	cases := []struct {
		name    string
		streams []*TCPStream
		want    bool
	}{
		{"both sides closed", []*TCPStream{s("10.0.0.1:5", "10.0.0.2:80", true, false), s("10.0.0.2:80", "10.0.0.1:5", true, false)}, true},
		{"one side still open", []*TCPStream{s("10.0.0.1:5", "10.0.0.2:80", true, false), s("10.0.0.2:80", "10.0.0.1:5", false, false)}, false},
		{"server reset", []*TCPStream{s("10.0.0.1:5", "10.0.0.2:80", false, false), s("10.0.0.2:80", "10.0.0.1:5", true, true)}, true},
		{"no answer", []*TCPStream{s("10.0.0.1:5", "10.0.0.2:80", false, false)}, false},
	}
	for _, tc := range cases {
		conns := PairStreams(tc.streams)
		if len(conns) != 1 || conns[0].Finished() != tc.want || conns[0].Client != tc.streams[0] {
			t.Errorf("%s: %d connections, finished %v; want 1, %v", tc.name, len(conns), len(conns) == 1 && conns[0].Finished(), tc.want)
		}
	}
	other := s("10.0.0.3:5", "10.0.0.2:80", false, false)
	if got := Between(PairStreams(append(cases[0].streams, other)), ap("10.0.0.2:80").Addr(), ap("10.0.0.1:5").Addr()); len(got) != 1 {
		t.Errorf("Between kept %d connections, want the 1 between the two addresses", len(got))
	}
}
