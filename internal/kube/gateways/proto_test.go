package gateways

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/kube/gatewayapi"
)

func listeners() []config.GatewayListener {
	cert := &config.CertPEM{Name: "edge/shop-tls", Chain: []byte("chain"), Key: []byte("key")}
	web := spiffeid.RequireFromString("spiffe://cluster.local/ns/shop/sa/web")
	pay := spiffeid.RequireFromString("spiffe://cluster.local/ns/pay/sa/pay")
	return []config.GatewayListener{
		{Name: "http", Listen: ":80", RedirectPort: 443},
		{Name: "https,tls", Listen: ":443", ProxyProtocol: true, TrustedForwarders: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, Routes: []config.Route{
			{Hostname: "pay.example.com", Mode: config.Passthrough, Backends: []config.Backend{{Address: "10.96.0.3:8443", ServerID: pay, Weight: 1}}},
			{Hostname: "shop.example.com", Mode: config.Terminate, Cert: cert, HSTS: &config.HSTS{MaxAge: 365 * 24 * time.Hour, IncludeSubdomains: true}, Backends: []config.Backend{
				{PathPrefix: "/", Address: "10.96.0.1:80", ServerID: web, Protocol: config.HTTP1, Weight: 3},
				{PathPrefix: "/", Address: "10.96.0.9:80", ServerID: pay, Protocol: config.HTTP1, Weight: 1}, // a canary
				{PathPrefix: "/api", Weight: 1}, // did not resolve
			}},
			{Hostname: "*.example.com", Mode: config.Terminate, Cert: cert, Backends: []config.Backend{
				{PathPrefix: "/", Address: "10.96.0.1:80", ServerID: web, Protocol: config.HTTP2, Weight: 1}}},
		}},
		{Name: "empty", Listen: ":8443"},
	}
}

// What the controller sends is what the gateway runs: ToProto then the
// gateway's FromProto gives the listeners back, each certificate sent once.
func TestProtoRoundTrip(t *testing.T) {
	want := listeners()
	msg := ToProto("edge/gw", want)
	if len(msg.Certificates) != 1 {
		t.Errorf("%d certificates sent, want the shared one once", len(msg.Certificates))
	}
	got, err := gateway.FromProto(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

// The version follows the content, keys included.
func TestProtoVersion(t *testing.T) {
	a, b := ToProto("edge/gw", listeners()), ToProto("edge/gw", listeners())
	if a.Version != b.Version || a.Version == "" {
		t.Errorf("same content, versions %q and %q", a.Version, b.Version)
	}
	ls := listeners()
	ls[1].Routes[1].Cert = &config.CertPEM{Name: "edge/shop-tls", Chain: []byte("chain"), Key: []byte("renewed key")}
	if c := ToProto("edge/gw", ls); c.Version == a.Version {
		t.Error("a renewed key did not change the version")
	}
}

func TestMergeParents(t *testing.T) {
	then := metav1.NewTime(time.Unix(1_700_000_000, 0))
	ref := func(section string) gwv1.ParentReference {
		s := gwv1.SectionName(section)
		return gwv1.ParentReference{Name: "gw", SectionName: &s}
	}
	cond := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: "Accepted", Status: status, Reason: reason, Message: "m", ObservedGeneration: 1, LastTransitionTime: then}}
	}
	other := gwv1.RouteParentStatus{ParentRef: ref("x"), ControllerName: "example.com/other", Conditions: cond("True", "Accepted")}
	ours := gwv1.RouteParentStatus{ParentRef: ref("https"), ControllerName: gatewayapi.ControllerName, Conditions: cond("True", "Accepted")}
	for _, tc := range []struct {
		name        string
		old, want   []gwv1.RouteParentStatus
		changed     bool
		parentsLeft int
	}{
		{"unchanged", []gwv1.RouteParentStatus{other, ours}, []gwv1.RouteParentStatus{ours}, false, 2},
		{"first write", []gwv1.RouteParentStatus{other}, []gwv1.RouteParentStatus{ours}, true, 2},
		{"condition flips", []gwv1.RouteParentStatus{other, ours},
			[]gwv1.RouteParentStatus{{ParentRef: ref("https"), ControllerName: gatewayapi.ControllerName, Conditions: cond("False", "NotAllowedByListeners")}}, true, 2},
		{"no longer a parent of ours", []gwv1.RouteParentStatus{other, ours}, nil, true, 1},
		{"another section", []gwv1.RouteParentStatus{ours},
			[]gwv1.RouteParentStatus{{ParentRef: ref("http"), ControllerName: gatewayapi.ControllerName, Conditions: cond("True", "Accepted")}}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := mergeParents(tc.old, tc.want)
			if changed != tc.changed || len(got) != tc.parentsLeft {
				t.Fatalf("changed %v, %d parents; want %v, %d", changed, len(got), tc.changed, tc.parentsLeft)
			}
			if len(tc.old) > 0 && tc.old[0].ControllerName != gatewayapi.ControllerName && !reflect.DeepEqual(got[0], other) {
				t.Errorf("another controller's entry changed: %+v", got[0])
			}
			if !tc.changed && !got[1].Conditions[0].LastTransitionTime.Equal(&then) {
				t.Error("an unchanged condition got a new transition time")
			}
		})
	}
}
