package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

const baseline = `rules:
  - name: r1
    ports: [8080]
    from:
      - spiffe_id: spiffe://example.org/ns/shop/sa/frontend
    http:
      methods: [GET]
      path_prefixes: [/api/]
`

const frontendPeer = "- spiffe_id: spiffe://example.org/ns/shop/sa/frontend"

func TestParse(t *testing.T) {
	tests := []struct {
		name, old, new string
		wantErr        string // "" = valid
	}{
		{name: "baseline"},
		{name: "unknown top-level key", old: "rules:", new: "rulez:", wantErr: "rulez (line 1) is not a known key; known keys here: rules"},
		{name: "unknown rule key", old: "ports:", new: "port:", wantErr: "rules[0].port (line 3) is not a known key; known keys here: from, http, name, ports"},
		{name: "unknown peer key", old: "spiffe_id:", new: "spiffeid:", wantErr: "rules[0].from[0].spiffeid (line 5) is not a known key"},
		{name: "unknown http key", old: "methods:", new: "method:", wantErr: "rules[0].http.method (line 7) is not a known key; known keys here: methods, path_prefixes"},
		{name: "missing name", old: "name: r1", new: `name: ""`, wantErr: "rules[0].name is required"},
		{name: "name with a space", old: "name: r1", new: "name: r 1", wantErr: `rules[0].name: "r 1" may only hold letters`},
		{name: "duplicate name", old: "", new: "  - {name: r1, from: [{namespace: shop}]}\n", wantErr: `rules[1].name: "r1" is already the name of rules[0]`},
		{name: "port zero", old: "[8080]", new: "[0]", wantErr: `rules[0].ports[0]: "0" is not a port`},
		{name: "port too big", old: "[8080]", new: "[65536]", wantErr: `rules[0].ports[0]: "65536" is not a port`},
		{name: "port not a number", old: "[8080]", new: "[http]", wantErr: "cannot unmarshal"},
		{name: "no peers", old: "from:\n      " + frontendPeer, new: "from: []", wantErr: "rules[0].from is empty"},
		{name: "ID pattern", old: "sa/frontend", new: "sa/*", wantErr: `rules[0].from[0].spiffe_id: "spiffe://example.org/ns/shop/sa/*"`},
		{name: "ID without path", old: "/ns/shop/sa/frontend", new: "", wantErr: "needs a path"},
		{name: "ID mixed with namespace", old: frontendPeer, new: "- {spiffe_id: spiffe://example.org/a, namespace: shop}", wantErr: "rules[0].from[0] mixes spiffe_id"},
		{name: "unauthenticated mixed", old: frontendPeer, new: "- {unauthenticated: true, namespace: shop}", wantErr: "rules[0].from[0] mixes unauthenticated"},
		{name: "unauthenticated false", old: frontendPeer, new: "- {unauthenticated: false}", wantErr: "rules[0].from[0] names no peer"},
		{name: "unauthenticated", old: frontendPeer, new: "- {unauthenticated: true}"},
		{name: "namespace", old: frontendPeer, new: "- {namespace: shop}"},
		{name: "namespace with a dot", old: frontendPeer, new: "- {namespace: shop.v1}", wantErr: `rules[0].from[0].namespace: "shop.v1" is not a Kubernetes namespace name`},
		{name: "namespace pattern", old: frontendPeer, new: `- {namespace: "*"}`, wantErr: "never as patterns"},
		{name: "trust domain", old: frontendPeer, new: "- {trust_domain: partner.org}"},
		{name: "bad trust domain", old: frontendPeer, new: "- {trust_domain: Partner.org}", wantErr: `rules[0].from[0].trust_domain: "Partner.org"`},
		{name: "lower-case method", old: "[GET]", new: "[get]", wantErr: `rules[0].http.methods[0]: "get" is not an upper-case HTTP method`},
		{name: "custom method", old: "[GET]", new: "[PROPFIND]"},
		{name: "prefix not canonical", old: "[/api/]", new: "[/api//v1/./]", wantErr: `rules[0].http.path_prefixes[0]: "/api//v1/./" is not in canonical form, so no request would match it as written; write /api/v1/`},
		{name: "prefix relative", old: "[/api/]", new: "[api/]", wantErr: "does not start with /"},
		{name: "prefix encoded slash", old: "[/api/]", new: "[/a%2Fb]", wantErr: "encoded slash"},
		{name: "prefix encoded unreserved", old: "[/api/]", new: "[/%61pi/]", wantErr: "write /api/"},
		{name: "prefix with query", old: "[/api/]", new: `["/api?x=1"]`, wantErr: "holds a query"},
		{name: "empty http block", old: "      methods: [GET]\n      path_prefixes: [/api/]\n", new: "      {}\n"},
		{name: "duplicate key", old: "name: r1", new: "name: r1\n    name: r2", wantErr: "already defined"},
		{name: "second document", old: "", new: "---\nrules: []\n", wantErr: "more than one YAML document"},
		{name: "rules missing", old: baseline, new: "{}", wantErr: "rules is required"},
		{name: "rules null", old: baseline, new: "rules:\n", wantErr: "rules is required"},
		{name: "empty file", old: baseline, new: "", wantErr: "file is empty"},
		{name: "comment only", old: baseline, new: "# nothing yet\n", wantErr: "file is empty"},
		{name: "too big", old: baseline, new: "#" + strings.Repeat("x", MaxSize), wantErr: "over the 1048576-byte limit"},
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
			p, err := Parse([]byte(src), local)
			if tt.wantErr == "" {
				if err != nil || p == nil {
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

func TestParseReportsEveryProblem(t *testing.T) {
	src := strings.Replace(strings.Replace(baseline, "[8080]", "[0]", 1), "[GET]", "[get]", 1)
	_, err := Parse([]byte(src), local)
	if err == nil || !strings.Contains(err.Error(), "rules[0].ports[0]") || !strings.Contains(err.Error(), "rules[0].http.methods[0]") {
		t.Fatalf("error = %v, want both problems", err)
	}
}

func TestParseNamespaceNeedsTrustDomain(t *testing.T) {
	src := "rules: [{name: r, from: [{namespace: shop}]}]"
	if _, err := Parse([]byte(src), spiffeid.TrustDomain{}); err == nil || !strings.Contains(err.Error(), "needs trust_domain next to it") {
		t.Fatalf("without a local trust domain: error = %v", err)
	}
	src = "rules: [{name: r, from: [{namespace: shop, trust_domain: partner.org}]}]"
	p, err := Parse([]byte(src), spiffeid.TrustDomain{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Decide(Request{Peer: id("spiffe://partner.org/ns/shop/sa/a"), Port: 1}).Allow {
		t.Fatal("namespace in an explicit trust domain was denied")
	}
}

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, local); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
