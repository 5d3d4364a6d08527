package policy

import (
	"encoding/json"
	"testing"
)

func TestMarshalJSON(t *testing.T) {
	p, err := Parse([]byte(`rules:
  - name: r
    ports: [8080]
    from:
      - spiffe_id: spiffe://example.org/ns/shop/sa/frontend
      - namespace: shop
      - {namespace: billing, trust_domain: partner.org}
      - trust_domain: partner.org
      - unauthenticated: true
    http: {methods: [GET], path_prefixes: [/api/]}
  - {name: all, from: [{namespace: web}]}
`), local)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"default":"deny","trust_domain":"example.org","rules":[` +
		`{"name":"r","ports":[8080],"from":[{"spiffe_id":"spiffe://example.org/ns/shop/sa/frontend"},{"namespace":"shop","trust_domain":"example.org"},` +
		`{"namespace":"billing","trust_domain":"partner.org"},{"trust_domain":"partner.org"},{"unauthenticated":true}],"http":{"methods":["GET"],"path_prefixes":["/api/"]}},` +
		`{"name":"all","from":[{"namespace":"web","trust_domain":"example.org"}]}]}`
	got, err := json.Marshal(p)
	if err != nil || string(got) != want {
		t.Errorf("json.Marshal:\n got %s %v\nwant %s", got, err, want)
	}
	got, err = json.Marshal(DenyAll())
	if err != nil || string(got) != `{"default":"deny","rules":[]}` {
		t.Errorf("json.Marshal(DenyAll()) = %s %v", got, err)
	}
}
