package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(baseline))
	f.Add([]byte("rules: [{name: a, from: [{unauthenticated: true}], http: {}}]"))
	f.Add([]byte("rules: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, local)
		if err != nil {
			return
		}
		for _, r := range p.rules {
			if r.name == "" || !validName(r.name) || len(r.from) == 0 {
				t.Fatalf("accepted rule %+v", r)
			}
			for _, pe := range r.from {
				if pe.kind == peerID && (pe.id.IsZero() || pe.id.Path() == "") || pe.kind != peerUnauthenticated && pe.kind != peerID && pe.td.IsZero() {
					t.Fatalf("accepted peer %+v in rule %s", pe, r.name)
				}
			}
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
	})
}

func FuzzDecidePath(f *testing.F) {
	for _, s := range []string{"/api/orders/7", "/api//orders/./x/../7?q", "/%2e%2E/", "/a%2Fb", "*", "/a/..;/b", "/%41%7e", `/a\b`, "/a#b", ""} {
		f.Add("GET", s)
	}
	f.Add("OPTIONS", "*")
	p := load(f, "shop.yaml")
	f.Fuzz(func(t *testing.T, method, path string) {
		r := Request{Peer: id(frontend), Port: 8080, HTTP: &HTTP{Method: method, Path: path}}
		d := p.Decide(r)
		if again := p.Decide(r); again != d {
			t.Fatalf("Decide is not deterministic: %+v then %+v", d, again)
		}
		if !headerSafe(d.Reason) {
			t.Fatalf("Reason is not printable ASCII: %q", d.Reason)
		}
		canon, err := canonicalPath(path)
		if err != nil {
			return
		}
		for _, bad := range []string{"//", "/./", "/../"} {
			if strings.Contains(canon, bad) {
				t.Fatalf("canonicalPath(%q) = %q holds %q", path, canon, bad)
			}
		}
		if strings.HasSuffix(canon, "/.") || strings.HasSuffix(canon, "/..") || strings.ContainsAny(canon, "?#\\") {
			t.Fatalf("canonicalPath(%q) = %q is not canonical", path, canon)
		}
		if again, err := canonicalPath(canon); err != nil || again != canon {
			t.Fatalf("canonicalPath is not idempotent: %q -> %q -> %q, %v", path, canon, again, err)
		}
		if d.Allow != p.Decide(Request{Peer: r.Peer, Port: r.Port, HTTP: &HTTP{Method: method, Path: canon}}).Allow {
			t.Fatalf("%q and its canonical form %q are decided differently", path, canon)
		}
	})
}
