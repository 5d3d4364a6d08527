package crds_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/kube/authz"
)

var td = spiffeid.RequireTrustDomainFromString("cluster.local")

// Baselines the tables change one thing of.
const (
	authzBaseline = `
apiVersion: hopseal.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: frontend-reads-orders}
spec:
  selector: {matchLabels: {app: orders}}
  ports: [8080]
  from: [{serviceAccount: {namespace: shop, name: frontend}}]
  http: {methods: [GET], pathPrefixes: [/api/orders/]}
`
	mtlsBaseline = `
apiVersion: hopseal.io/v1alpha1
kind: MTLSPolicy
metadata: {name: orders-permissive}
spec:
  selector: {matchLabels: {app: orders}}
  mode: permissive
`
)

// Every shape the API promises is admitted, reads back into the Go types
// without unknown fields, and compiles.
func TestValidObjects(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t)
	tests := []struct {
		name, base, patch string
	}{
		{"authz baseline", authzBaseline, `{}`},
		{"service account of the policy's namespace", authzBaseline, `{spec: {from: [{serviceAccount: {name: frontend}}]}}`},
		{"service account name with dots", authzBaseline, `{spec: {from: [{serviceAccount: {name: build.bot}}]}}`},
		{"namespace peer", authzBaseline, `{spec: {from: [{namespace: billing}]}}`},
		{"SPIFFE ID peer", authzBaseline, `{spec: {from: [{spiffeID: "spiffe://partner.example/billing/v1.2_x-y"}]}}`},
		{"trust domain peer", authzBaseline, `{spec: {from: [{trustDomain: partner.example}]}}`},
		{"unauthenticated peer", authzBaseline, `{spec: {from: [{unauthenticated: true}]}}`},
		{"several peers", authzBaseline, `{spec: {from: [{namespace: billing}, {trustDomain: partner.example}, {unauthenticated: true}]}}`},
		{"every port", authzBaseline, `{spec: {ports: null}}`},
		{"edge ports", authzBaseline, `{spec: {ports: [1, 65535]}}`},
		{"whole connections", authzBaseline, `{spec: {http: null}}`},
		{"HTTP with methods only", authzBaseline, `{spec: {http: {pathPrefixes: null, methods: [PROPFIND, M-SEARCH]}}}`},
		{"HTTP with prefixes only", authzBaseline, `{spec: {http: {methods: null, pathPrefixes: [/, /a%20b/c, "/x;v=1"]}}}`},
		{"HTTP only, any request", authzBaseline, `{spec: {http: {methods: null, pathPrefixes: null}}}`},
		{"no selector", authzBaseline, `{spec: {selector: null}}`},
		{"selector expressions", authzBaseline, `{spec: {selector: {matchLabels: null, matchExpressions: [{key: app, operator: In, values: [orders]}, {key: tier, operator: NotIn, values: [db]}, {key: team, operator: Exists}, {key: legacy, operator: DoesNotExist}]}}}`},
		{"namespace-wide default deny", authzBaseline, `{spec: {selector: null, ports: null, from: null, http: null}}`},
		{"default deny of some workloads", authzBaseline, `{spec: {ports: null, from: null, http: null}}`},
		{"mtls baseline", mtlsBaseline, `{}`},
		{"mtls strict", mtlsBaseline, `{spec: {mode: strict}}`},
		{"mtls namespace-wide", mtlsBaseline, `{spec: {selector: null}}`},
		{"mtls selector expressions", mtlsBaseline, `{spec: {selector: {matchLabels: null, matchExpressions: [{key: app, operator: Exists}]}}}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := mergePatch(t, object(t, tt.base), tt.patch)
			obj.SetName(obj.GetName() + "-" + string(rune('a'+i)))
			got, err := e.create(t, obj, ns, false)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			checkGoTypes(t, got)
		})
	}
}

// checkGoTypes reads a stored object into the Go types, refusing unknown
// fields, and compiles it as the controller would.
func checkGoTypes(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	conv := runtime.DefaultUnstructuredConverter
	switch obj.GetKind() {
	case "AuthorizationPolicy":
		var ap v1alpha1.AuthorizationPolicy
		if err := conv.FromUnstructuredWithValidation(obj.Object, &ap, true); err != nil {
			t.Fatalf("read into AuthorizationPolicy: %v", err)
		}
		if _, _, err := authz.RuleFor(&ap, td); err != nil {
			t.Fatalf("admitted but does not compile: %v", err)
		}
	case "MTLSPolicy":
		var mp v1alpha1.MTLSPolicy
		if err := conv.FromUnstructuredWithValidation(obj.Object, &mp, true); err != nil {
			t.Fatalf("read into MTLSPolicy: %v", err)
		}
		// A workload the policy selects: the tables' selectors all pick app=orders
		// or name their labels in matchLabels.
		labels := map[string]string{"app": "orders"}
		if mp.Spec.Selector != nil {
			maps.Copy(labels, mp.Spec.Selector.MatchLabels)
		}
		w := authz.Workload{Namespace: mp.Namespace, Labels: labels}
		if res := authz.ForWorkload(w, td, nil, []v1alpha1.MTLSPolicy{mp}); len(res.Problems) > 0 || res.Mode != mp.Spec.Mode {
			t.Fatalf("mode %q problems %v, want %q and none", res.Mode, res.Problems, mp.Spec.Mode)
		}
	}
}

// Nonsense is rejected at admission, each with a message that says what is
// wrong (and usually how to fix it).
func TestInvalidObjects(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t)
	tests := []struct {
		name, base, patch string
		want              string // substring of the API server's error
	}{
		{"port zero", authzBaseline, `{spec: {ports: [0]}}`, "spec.ports[0]: Invalid value: 0: spec.ports[0] in body should be greater than or equal to 1"},
		{"port too big", authzBaseline, `{spec: {ports: [65536]}}`, "spec.ports[0]: Invalid value: 65536: spec.ports[0] in body should be less than or equal to 65535"},
		{"duplicate port", authzBaseline, `{spec: {ports: [8080, 8080]}}`, "spec.ports[1]: Duplicate value: 8080"},
		{"empty ports", authzBaseline, `{spec: {ports: []}}`, "spec.ports: Invalid value: ports is empty; omit ports to mean every port"},
		{"port as a name", authzBaseline, `{spec: {ports: [http]}}`, `spec.ports[0]: Invalid value: "string": spec.ports[0] in body must be of type integer`},
		{"empty from", authzBaseline, `{spec: {from: []}}`, "from is empty; omit from for a policy that only denies"},
		{"ports without from", authzBaseline, `{spec: {from: null, http: null}}`, "ports and http only narrow what from allows, and this policy has no from"},
		{"http without from", authzBaseline, `{spec: {from: null, ports: null}}`, "ports and http only narrow what from allows"},
		{"peer with two fields", authzBaseline, `{spec: {from: [{serviceAccount: {name: frontend}, namespace: shop}]}}`, "spec.from[0]: Invalid value: a peer sets exactly one of serviceAccount, namespace, spiffeID, trustDomain or unauthenticated"},
		{"empty peer", authzBaseline, `{spec: {from: [{}]}}`, "a peer sets exactly one of"},
		{"unauthenticated false", authzBaseline, `{spec: {from: [{unauthenticated: false}]}}`, "unauthenticated: false allows nothing; write unauthenticated: true"},
		{"service account without name", authzBaseline, `{spec: {from: [{serviceAccount: {namespace: shop}}]}}`, "spec.from[0].serviceAccount.name: Required value"},
		{"service account name upper case", authzBaseline, `{spec: {from: [{serviceAccount: {name: Frontend}}]}}`, "serviceAccount.name must be a service account name"},
		{"service account namespace with underscore", authzBaseline, `{spec: {from: [{serviceAccount: {namespace: shop_1, name: frontend}}]}}`, "serviceAccount.namespace must be a namespace name"},
		{"namespace peer with a dot", authzBaseline, `{spec: {from: [{namespace: shop.v1}]}}`, `spec.from[0].namespace: Invalid value: "shop.v1": namespace must be a namespace name`},
		{"namespace peer too long", authzBaseline, `{spec: {from: [{namespace: ` + strings.Repeat("a", 64) + `}]}}`, "spec.from[0].namespace: Too long: may not be more than 63 bytes"},
		{"SPIFFE ID without scheme", authzBaseline, `{spec: {from: [{spiffeID: cluster.local/ns/shop/sa/frontend}]}}`, "spiffeID must start with spiffe://"},
		{"SPIFFE ID of another scheme", authzBaseline, `{spec: {from: [{spiffeID: "https://cluster.local/ns/shop/sa/frontend"}]}}`, "spiffeID must start with spiffe://"},
		{"SPIFFE ID upper-case trust domain", authzBaseline, `{spec: {from: [{spiffeID: "spiffe://Cluster.local/x"}]}}`, "spiffeID must be spiffe://<trust domain>/<path>"},
		{"SPIFFE ID without path", authzBaseline, `{spec: {from: [{spiffeID: "spiffe://cluster.local"}]}}`, "spiffeID must be spiffe://<trust domain>/<path>"},
		{"SPIFFE ID trailing slash", authzBaseline, `{spec: {from: [{spiffeID: "spiffe://cluster.local/ns/shop/"}]}}`, "without a trailing slash"},
		{"SPIFFE ID pattern", authzBaseline, `{spec: {from: [{spiffeID: "spiffe://cluster.local/ns/shop/sa/*"}]}}`, "spiffeID must be spiffe://<trust domain>/<path>"},
		{"SPIFFE ID dot segment", authzBaseline, `{spec: {from: [{spiffeID: "spiffe://cluster.local/ns/../sa/x"}]}}`, "spiffeID must not have '.' or '..' path segments"},
		{"trust domain upper case", authzBaseline, `{spec: {from: [{trustDomain: Partner.example}]}}`, "trustDomain must be a trust domain name only"},
		{"trust domain as an ID", authzBaseline, `{spec: {from: [{trustDomain: "spiffe://partner.example"}]}}`, "without spiffe:// or a path"},
		{"lower-case method", authzBaseline, `{spec: {http: {methods: [get]}}}`, `spec.http.methods[0]: Invalid value: "get": HTTP methods are upper-case tokens such as GET or POST`},
		{"method with a space", authzBaseline, `{spec: {http: {methods: ["GE T"]}}}`, "HTTP methods are upper-case tokens"},
		{"duplicate method", authzBaseline, `{spec: {http: {methods: [GET, GET]}}}`, `spec.http.methods[1]: Duplicate value: "GET"`},
		{"relative prefix", authzBaseline, `{spec: {http: {pathPrefixes: [api/]}}}`, `spec.http.pathPrefixes[0]: Invalid value: "api/": path prefixes start with '/'`},
		{"prefix with query", authzBaseline, `{spec: {http: {pathPrefixes: ["/api?x=1"]}}}`, "remove the query (?) or fragment (#)"},
		{"prefix with fragment", authzBaseline, `{spec: {http: {pathPrefixes: ["/api#top"]}}}`, "remove the query (?) or fragment (#)"},
		{"prefix with a space", authzBaseline, `{spec: {http: {pathPrefixes: ["/a b"]}}}`, "printable ASCII without spaces or backslashes"},
		{"prefix with a backslash", authzBaseline, `{spec: {http: {pathPrefixes: ['/a\b']}}}`, "printable ASCII without spaces or backslashes"},
		{"prefix with empty segment", authzBaseline, `{spec: {http: {pathPrefixes: [/api//v1/]}}}`, "path prefixes must be canonical: no empty, '.' or '..' segments"},
		{"prefix with dot segment", authzBaseline, `{spec: {http: {pathPrefixes: [/api/./v1]}}}`, "path prefixes must be canonical"},
		{"prefix climbing", authzBaseline, `{spec: {http: {pathPrefixes: [/api/..]}}}`, "path prefixes must be canonical"},
		{"prefix with dot and parameters", authzBaseline, `{spec: {http: {pathPrefixes: ["/api/..;x/"]}}}`, "path prefixes must be canonical"},
		{"prefix with lower-case escape", authzBaseline, `{spec: {http: {pathPrefixes: [/a%2f]}}}`, "percent-encode as %XX with two upper-case hex digits"},
		{"prefix with broken escape", authzBaseline, `{spec: {http: {pathPrefixes: [/a%G1]}}}`, "percent-encode as %XX"},
		{"prefix with truncated escape", authzBaseline, `{spec: {http: {pathPrefixes: [/a%2]}}}`, "percent-encode as %XX"},
		{"prefix with encoded slash", authzBaseline, `{spec: {http: {pathPrefixes: [/a%2Fb]}}}`, "must not percent-encode letters, digits, '-', '.', '_' or '~' (write them as they are), nor '/', '\\' or control characters"},
		{"prefix with encoded letter", authzBaseline, `{spec: {http: {pathPrefixes: [/%61pi/]}}}`, "must not percent-encode letters"},
		{"duplicate prefix", authzBaseline, `{spec: {http: {pathPrefixes: [/a, /a]}}}`, `spec.http.pathPrefixes[1]: Duplicate value: "/a"`},
		{"empty selector", authzBaseline, `{spec: {selector: {matchLabels: null}}}`, "spec.selector: Invalid value: selector is empty; omit selector to apply the policy to every workload of the namespace"},
		{"unknown operator", authzBaseline, `{spec: {selector: {matchExpressions: [{key: app, operator: Equals, values: [x]}]}}}`, "matchExpressions operator must be In, NotIn, Exists or DoesNotExist"},
		{"In without values", authzBaseline, `{spec: {selector: {matchExpressions: [{key: app, operator: In}]}}}`, "matchExpressions with operator In or NotIn need values"},
		{"Exists with values", authzBaseline, `{spec: {selector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}}}`, "matchExpressions with operator Exists or DoesNotExist take no values"},
		{"misspelled field", authzBaseline, `{spec: {form: [{namespace: shop}]}}`, `unknown field "spec.form"`},
		{"no spec", authzBaseline, `{spec: null}`, "spec: Required value"},
		{"mtls without mode", mtlsBaseline, `{spec: {mode: null}}`, "spec.mode: Required value"},
		{"mtls mode in capitals", mtlsBaseline, `{spec: {mode: STRICT}}`, `spec.mode: Unsupported value: "STRICT": supported values: "strict", "permissive"`},
		{"mtls empty selector", mtlsBaseline, `{spec: {selector: {matchLabels: null}}}`, "selector is empty; omit selector"},
		{"mtls unknown operator", mtlsBaseline, `{spec: {selector: {matchExpressions: [{key: app, operator: exists}]}}}`, "matchExpressions operator must be In, NotIn, Exists or DoesNotExist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := mergePatch(t, object(t, tt.base), tt.patch)
			_, err := e.create(t, obj, ns, true)
			if err == nil {
				t.Fatalf("admitted; want an error containing %q", tt.want)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("error %v is not Invalid or BadRequest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}
