package gateway

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/pires/go-proxyproto"

	"github.com/hopseal/hopseal/internal/config"
)

func formatHeader(t testing.TB, version byte, src, dst string) []byte {
	t.Helper()
	s, _ := net.ResolveTCPAddr("tcp", src)
	d, _ := net.ResolveTCPAddr("tcp", dst)
	b, err := proxyproto.HeaderProxyFromAddrs(version, s, d).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every prefix of a header is incomplete; the whole header parses to its
// exact size whatever follows it.
func TestParseProxyHeader(t *testing.T) {
	hello := []byte{0x16, 3, 1, 0, 1, 1}
	for _, tt := range []struct {
		name   string
		header []byte
		client string
	}{
		{"v1 IPv4", formatHeader(t, 1, "203.0.113.7:4242", "10.0.0.1:443"), "203.0.113.7:4242"},
		{"v1 IPv6", formatHeader(t, 1, "[2001:db8::1]:1", "[2001:db8::2]:443"), "[2001:db8::1]:1"},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), ""},
		{"v2 IPv4", formatHeader(t, 2, "198.51.100.3:9", "10.0.0.1:443"), "198.51.100.3:9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for n := 1; n < len(tt.header); n++ {
				if _, _, err := parseProxyHeader(tt.header[:n]); !errors.Is(err, errIncomplete) {
					t.Fatalf("prefix of %d bytes: %v, want incomplete", n, err)
				}
			}
			h, size, err := parseProxyHeader(append(append([]byte{}, tt.header...), hello...))
			if err != nil || size != len(tt.header) {
				t.Fatalf("size %d, %v; want %d", size, err, len(tt.header))
			}
			src, err := clientAddr(h)
			if err != nil || addrString(src) != tt.client {
				t.Fatalf("client %v, %v; want %q", src, err, tt.client)
			}
		})
	}
}

func TestParseProxyHeaderRefusals(t *testing.T) {
	v2 := formatHeader(t, 2, "198.51.100.3:9", "10.0.0.1:443")
	long := append([]byte(v2[:14]), 0xff, 0xff)
	for name, b := range map[string][]byte{
		"a ClientHello":        {0x16, 3, 1, 0, 1, 1},
		"HTTP":                 []byte("GET / HTTP/1.1\r\n"),
		"v1 without CRLF":      []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
		"v1 too long":          []byte("PROXY " + strings.Repeat("x", 110)),
		"v1 bad address":       []byte("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"),
		"v2 over the size cap": long,
		"v2 bad version":       append(append([]byte{}, v2[:12]...), 0x31, v2[13], v2[14], v2[15]),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := parseProxyHeader(b); err == nil || errors.Is(err, errIncomplete) {
				t.Fatalf("parseProxyHeader(%q) = %v, want a refusal", b, err)
			}
		})
	}
}

func FuzzParseProxyHeader(f *testing.F) {
	f.Add(formatHeader(f, 1, "203.0.113.7:4242", "10.0.0.1:443"))
	f.Add(formatHeader(f, 2, "[2001:db8::1]:1", "[2001:db8::2]:443"))
	f.Add([]byte("PROXY UNKNOWN\r\n\x16\x03\x01"))
	f.Add(append([]byte{}, proxyproto.SIGV2...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, size, err := parseProxyHeader(b)
		if err != nil {
			return
		}
		if size <= 0 || size > len(b) || size > maxProxyHeader {
			t.Fatalf("size %d of %d bytes", size, len(b))
		}
		if _, size2, err := parseProxyHeader(b[:size]); err != nil || size2 != size {
			t.Fatalf("the header alone: size %d, %v", size2, err)
		}
		if src, err := clientAddr(h); err == nil && src != nil {
			_ = src.String()
		}
	})
}

func TestRouteTable(t *testing.T) {
	routes := []*route{
		{cfg: config.Route{Hostname: "shop.example.com"}},
		{cfg: config.Route{Hostname: "*.example.com"}},
		{cfg: config.Route{Hostname: "*.shop.example.com"}},
	}
	table := newRouteTable(routes)
	for name, want := range map[string]*route{
		"shop.example.com": routes[0], "SHOP.Example.COM": routes[0], "pay.example.com": routes[1],
		"a.shop.example.com": routes[2], "example.com": nil, "a.b.example.com": nil, "": nil, "com": nil,
	} {
		if got := table.lookup(name); got != want {
			t.Errorf("lookup(%q) = %v, want %v", name, got, want)
		}
	}
	for host, want := range map[string]bool{"a.example.com": true, "A.example.com:443": true, "example.com": false, "a.b.example.com": false, ".example.com": false, "": true} {
		if got := routes[1].matchesHost(host); got != want {
			t.Errorf("*.example.com matchesHost(%q) = %v", host, got)
		}
	}
	if routes[0].matchesHost("shop.example.com.evil") || !routes[0].matchesHost("shop.example.com:8443") {
		t.Error("exact route host match")
	}
}

func TestBackendFor(t *testing.T) {
	r := &route{}
	for _, p := range []string{"/api/v2", "/api", "/"} { // longest first, as built
		r.backends = append(r.backends, &backend{cfg: config.Backend{PathPrefix: p, Weight: 1}})
	}
	r.splits = splitsOf(r.backends)
	for path, want := range map[string]string{"/": "/", "/api": "/api", "/api/": "/api", "/apix": "/", "/api/v2/x": "/api/v2", "/api/v20": "/api"} {
		if got := r.backendFor(path).cfg.PathPrefix; got != want {
			t.Errorf("backendFor(%q) = %s, want %s", path, got, want)
		}
	}
	r.splits = splitsOf(r.backends[:2])
	if r.backendFor("/other") != nil {
		t.Error("a path outside every prefix found a backend")
	}
}

// Backends that share a prefix get exactly their weight's share of every
// run of total requests, interleaved; weight 0 gets none.
func TestWeightedSplit(t *testing.T) {
	for _, weights := range [][]int{{3, 1}, {1, 0, 1}, {90, 10}, {1, 1, 1, 1, 1, 1}, {7}, {2, 4}} {
		var bs []*backend
		total := 0
		for i, w := range weights {
			bs = append(bs, &backend{cfg: config.Backend{PathPrefix: "/", Weight: w, Address: fmt.Sprint(i)}})
			total += w
		}
		s := splitsOf(bs)[0]
		for round := range 3 {
			got := map[string]int{}
			var order []string
			for range total {
				b := s.pick()
				got[b.cfg.Address]++
				order = append(order, b.cfg.Address)
			}
			for i, w := range weights {
				if got[fmt.Sprint(i)] != w {
					t.Fatalf("weights %v, round %d: %v, want each its weight (%s)", weights, round, got, strings.Join(order, ""))
				}
			}
			if weights[0] == 90 && slices.Index(order, "1") > 20 {
				t.Errorf("weights %v: the first request of the weight-10 backend came at %d: not interleaved", weights, slices.Index(order, "1"))
			}
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	for _, tt := range []struct {
		path, escaped string
		ok            bool
	}{
		{"/", "/", true}, {"/a/b/", "/a/b/", true}, {"/a b", "/a%20b", true},
		{"", "", false}, {"*", "*", false}, {"/a/../b", "/a/../b", false}, {"/a/./b", "/a/./b", false},
		{"/a//b", "/a//b", false}, {"/a/b", "/a%2Fb", false}, {"/a/b", "/a%2fb", false},
		{`/a\b`, `/a%5Cb`, false}, {"/..", "/..", false},
	} {
		if got := canonicalPath(tt.path, tt.escaped); got != tt.ok {
			t.Errorf("canonicalPath(%q, %q) = %v", tt.path, tt.escaped, got)
		}
	}
}
