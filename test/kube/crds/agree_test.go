package crds_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/kube/authz"
)

// What admission accepts, the compiler accepts too: otherwise a policy the
// API server stored would fail closed in the proxies. Admission may be the
// stricter of the two, never the looser; the values are the tricky ones.
func TestAdmissionNoLooserThanCompiler(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t)
	fields := []struct {
		name, template string   // template holds X where the value goes
		values         []string // the first is valid
	}{
		{"pathPrefixes", `{spec: {http: {pathPrefixes: ["X"]}}}`, []string{
			"/", "/api/", "/api", "/a%20b", "/a%2fb", "/a%2Fb", "/a%5C", "/%7E", "/~user", "/a%25", "/a%3B/", "/a/..%3B/", "/a/.%3b",
			"/a;b", "/a/.;b", "/.well-known/", "/a/...", "/a/..b", "/%C3%A9", "/a%00", "/a%7F", "/a%7f", "/a%", "/a%zz", "/*", "/a:b@c!$&'()*+,=",
			"/a/.", "/a/..", "/a//", "//a", "/a?", "/a#", `/a\\b`, "/a b", "/a\u00e9", "/a%2e%2e/", "/%2E/",
		}},
		{"spiffeID", `{spec: {from: [{spiffeID: "X"}]}}`, []string{
			"spiffe://td/a", "spiffe://td/a/b.c", "spiffe://td/a%20b", "spiffe://td/a/.", "spiffe://td/..", "spiffe://td/...", "spiffe://td/a~b",
			"spiffe://td:80/a", "spiffe://user@td/a", "spiffe://TD/a", "spiffe://td/A_B-c.D", "spiffe://td/a?x", "spiffe://td/a#x", "spiffe://td//a",
			"spiffe://./a", "spiffe://td.-_/a", "SPIFFE://td/a", "spiffe:///a",
		}},
		{"trustDomain", `{spec: {from: [{trustDomain: "X"}]}}`, []string{
			"td", "a.b-c_d", "TD", "td:80", "td/a", "spiffe://td", ".", "..", "a b",
		}},
		{"namespace", `{spec: {from: [{namespace: "X"}]}}`, []string{"shop", "a-1", "-a", "a-", "A", "a.b", "a_b", "1"}},
		{"serviceAccount.name", `{spec: {from: [{serviceAccount: {name: "X"}}]}}`, []string{"sa", "a.b", "a..b", ".a", "a.", "A", "a_b", "a-b.c-d"}},
		{"methods", `{spec: {http: {methods: ["X"]}}}`, []string{"GET", "M-SEARCH", "X_Y", "-X", "get", "G1", "GET ", strings.Repeat("A", 33)}},
	}
	base := object(t, authzBaseline)
	for _, f := range fields {
		for i, v := range f.values {
			patch := strings.Replace(f.template, "X", strings.ReplaceAll(v, `"`, `\"`), 1)
			obj := mergePatch(t, base, patch)
			_, admitErr := e.create(t, obj, ns, true)
			var ap v1alpha1.AuthorizationPolicy
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &ap); err != nil {
				t.Fatal(err)
			}
			ap.Namespace = ns
			_, _, compileErr := authz.RuleFor(&ap, td)
			switch {
			case i == 0 && (admitErr != nil || compileErr != nil):
				t.Errorf("%s %q is valid, yet admission says %v and the compiler %v", f.name, v, admitErr, compileErr)
			case admitErr == nil && compileErr != nil:
				t.Errorf("%s %q: admitted, but the compiler refuses it: %v", f.name, v, compileErr)
			case admitErr != nil && compileErr == nil:
				t.Logf("%s %q: refused at admission only (stricter is fine)", f.name, v)
			}
		}
	}
}
