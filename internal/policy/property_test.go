package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789.-_/*:AZ%"

// mutate changes s in one place: a replaced, inserted or deleted byte
// somewhere in s[from:to].
func mutate(rng *rand.Rand, s string, from, to int) string {
	i := from + rng.IntN(to-from)
	c := string(idAlphabet[rng.IntN(len(idAlphabet))])
	switch rng.IntN(3) {
	case 0:
		return s[:i] + c + s[i+1:]
	case 1:
		return s[:i] + c + s[i:]
	default:
		return s[:i] + s[i+1:]
	}
}

// Property: an ID that differs from an allowed one in any character is
// denied, whether the rule names an ID, a namespace or a trust domain.
func TestPropertyExactIdentity(t *testing.T) {
	p, err := Parse([]byte(`rules:
  - {name: id, ports: [1], from: [{spiffe_id: "spiffe://example.org/ns/shop/sa/front.end-1"}]}
  - {name: ns, ports: [2], from: [{namespace: shop-v1}]}
  - {name: td, ports: [3], from: [{trust_domain: partner.example}]}
`), local)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		port     uint16
		allowed  string
		from, to int // the part of allowed that, changed, must deny
	}{
		{1, "spiffe://example.org/ns/shop/sa/front.end-1", 0, len("spiffe://example.org/ns/shop/sa/front.end-1")},
		{2, "spiffe://example.org/ns/shop-v1/sa/x", 0, len("spiffe://example.org/ns/shop-v1/")},
		{3, "spiffe://partner.example/w", 0, len("spiffe://partner.example/")},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		if d := p.Decide(Request{Peer: id(tt.allowed), Port: tt.port}); !d.Allow {
			t.Fatalf("%s on port %d denied: %s", tt.allowed, tt.port, d.Reason)
		}
		checked := 0
		for range 5000 {
			m := mutate(rng, tt.allowed, tt.from, tt.to)
			peer, err := spiffeid.FromString(m)
			if err != nil || m == tt.allowed {
				continue
			}
			checked++
			if d := p.Decide(Request{Peer: peer, Port: tt.port}); d.Allow {
				t.Fatalf("%s (a change of %s) allowed on port %d by %s", m, tt.allowed, tt.port, d.Rule)
			}
		}
		if checked < 1000 {
			t.Fatalf("only %d valid mutants of %s", checked, tt.allowed)
		}
	}
}

// Property: every spelling of a path gets its canonical form's decision, and
// spellings with an encoded slash are denied.
func TestPropertyPathVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		prefix := randomPath(rng, 1+rng.IntN(3))
		if rng.IntN(2) == 0 {
			prefix += "/"
		}
		p, err := Parse(fmt.Appendf(nil, "rules: [{name: r, from: [{namespace: shop}], http: {path_prefixes: [%q]}}]", prefix), local)
		if err != nil {
			t.Fatalf("prefix %q: %v", prefix, err)
		}
		inside := strings.TrimSuffix(prefix, "/") + randomPath(rng, 1+rng.IntN(2))
		outside := strings.TrimSuffix(prefix, "/") + "x" + randomPath(rng, rng.IntN(2))
		for _, base := range []string{inside, outside} {
			want := decide(p, base)
			if want.Allow != (base == inside) {
				t.Fatalf("prefix %q, path %q: %+v", prefix, base, want)
			}
			for range 20 {
				v := variant(rng, base)
				if got := decide(p, v); got.Allow != want.Allow || got.Rule != want.Rule {
					t.Fatalf("prefix %q: %q decided %+v, but its canonical form %q %+v", prefix, v, got, base, want)
				}
			}
			if !strings.Contains(base[1:], "/") {
				continue
			}
			enc := encodeSlash(rng, base)
			if got := decide(p, enc); got.Allow || !strings.Contains(got.Reason, "encoded slash") {
				t.Fatalf("prefix %q: %q decided %+v, want an encoded-slash denial", prefix, enc, got)
			}
		}
	}
}

func decide(p *Policy, path string) Decision {
	return p.Decide(Request{Peer: id("spiffe://example.org/ns/shop/sa/a"), Port: 80, HTTP: get(path)})
}

func randomPath(rng *rand.Rand, segments int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
	var b strings.Builder
	for range segments {
		seg := ""
		for seg == "" || seg == "." || seg == ".." {
			seg = ""
			for range 1 + rng.IntN(6) {
				seg += string(chars[rng.IntN(len(chars))])
			}
		}
		b.WriteString("/" + seg)
	}
	return b.String()
}

// variant respells a canonical path in one to three random ways that must
// not change its meaning.
func variant(rng *rand.Rand, path string) string {
	for range 1 + rng.IntN(3) {
		slashes := indexAll(path, '/')
		at := slashes[rng.IntN(len(slashes))]
		switch rng.IntN(5) {
		case 0:
			path = path[:at] + "//" + path[at+1:]
		case 1:
			path = path[:at] + "/./" + path[at+1:]
		case 2:
			path = path[:at] + "/zz/../" + path[at+1:]
		case 3:
			path = encodeOne(rng, path)
		default:
			path += "?q=%2F..%2F"
		}
	}
	return path
}

// encodeOne percent-encodes one unreserved character outside existing
// escapes, in either hex case.
func encodeOne(rng *rand.Rand, path string) string {
	var idx []int
	for i := 0; i < len(path); i++ {
		inEscape := i >= 1 && path[i-1] == '%' || i >= 2 && path[i-2] == '%'
		if unreserved(path[i]) && !inEscape && !strings.Contains(path[:i], "?") {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return path
	}
	i := idx[rng.IntN(len(idx))]
	enc := fmt.Sprintf("%%%02X", path[i])
	if rng.IntN(2) == 0 {
		enc = strings.ToLower(enc)
	}
	return path[:i] + enc + path[i+1:]
}

// encodeSlash replaces one slash after the first with %2F or %2f.
func encodeSlash(rng *rand.Rand, path string) string {
	slashes := indexAll(path, '/')[1:]
	at := slashes[rng.IntN(len(slashes))]
	return path[:at] + []string{"%2F", "%2f"}[rng.IntN(2)] + path[at+1:]
}

func indexAll(s string, c byte) []int {
	var out []int
	for i := 0; i < len(s) && s[i] != '?'; i++ {
		if s[i] == c {
			out = append(out, i)
		}
	}
	return out
}
