// Package gatewayapi translates Gateway API resources (a Gateway of
// hopseal's GatewayClass, the HTTPRoutes and TLSRoutes that attach to it,
// ReferenceGrants, Services and TLS Secrets) into what a hopseal gateway
// runs on — config.GatewayListener values with their certificates in
// memory — and into the status conditions the controller writes back. It
// does no I/O: the controller reads the objects and writes the status.
//
// The mapping:
//   - HTTPS listener, tls.mode Terminate, HTTPRoute: terminate routes by
//     server name, backends by path prefix (PathPrefix matches only);
//   - TLS listener, tls.mode Passthrough, TLSRoute: passthrough routes;
//   - HTTP listener: a listener that only redirects to https (RequestRedirect
//     filters with scheme https set the port); hopseal never proxies
//     plaintext;
//   - backendRefs to Services: the Service's cluster IP and port and the
//     SPIFFE ID of its endpoints, as the mesh stream computes them, so only
//     meshed Services are reachable.
//
// References across namespaces (certificateRefs to Secrets, backendRefs to
// Services) need a ReferenceGrant in the target's namespace; without one
// the Secret is never read.
package gatewayapi

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/config"
)

// ControllerName is the GatewayClass controllerName hopseal implements.
const ControllerName gwv1.GatewayController = "hopseal.io/gateway-controller"

// AnnotationProxyProtocol on a Gateway ("true") makes every listener
// expect a PROXY protocol v1 or v2 header (behind a network load balancer
// that sends one).
const AnnotationProxyProtocol = "hopseal.io/proxy-protocol"

// AnnotationTrustedForwarders on a Gateway ("10.0.0.0/16,10.1.0.0/16")
// names the load balancers whose X-Forwarded-For its listeners believe
// (behind one that ends TLS itself, as an ALB does).
const AnnotationTrustedForwarders = "hopseal.io/trusted-forwarders"

// AnnotationHSTS on a Gateway ("max-age=31536000; includeSubDomains") is the
// Strict-Transport-Security value of every answer on its HTTPS listeners.
const AnnotationHSTS = "hopseal.io/hsts"

// Route kinds.
const (
	KindHTTPRoute = "HTTPRoute"
	KindTLSRoute  = "TLSRoute"
)

// Input is everything a Gateway's translation reads.
type Input struct {
	Gateway    *gwv1.Gateway
	HTTPRoutes []*gwv1.HTTPRoute
	TLSRoutes  []*gwv1.TLSRoute
	Grants     []*gwv1.ReferenceGrant
	// Namespaces are the labels of every namespace, for allowedRoutes
	// selectors.
	Namespaces map[string]map[string]string
	Services   map[types.NamespacedName]*corev1.Service
	// Destinations are the mesh's (mesh.Destinations).
	Destinations []*meshv1.Destination
	// Secrets holds those SecretRefs names that exist; no other is read.
	// Unreadable are those the controller may not read (RBAC).
	Secrets    map[types.NamespacedName]*corev1.Secret
	Unreadable map[types.NamespacedName]bool
	Now        time.Time
}

// Result is a Gateway's translation.
type Result struct {
	// Listeners are the gateway's, by port; certificates are in memory.
	Listeners []config.GatewayListener
	// Status is the Gateway's (conditions and listeners; no addresses).
	Status gwv1.GatewayStatus
	// Routes are the parent statuses of every route that names the Gateway.
	Routes []RouteStatus
}

// RouteStatus is what one route's status says about one Gateway: an entry
// per parentRef naming it.
type RouteStatus struct {
	Kind      string
	Namespace string
	Name      string
	Parents   []gwv1.RouteParentStatus
}

// translation is one run of Translate.
type translation struct {
	in        Input
	gw        *gwv1.Gateway
	listeners []*lis
	dests     map[string][]string // address → SPIFFE IDs
	claims    []claim             // what attached routes ask each listener to serve
	redirects map[int32]int32     // HTTP port → the https port routes asked for
	// From the annotations: trusted forwarders and HSTS, or why one is
	// invalid.
	forwarders    []netip.Prefix
	hsts          *config.HSTS
	annotationErr string
}

// Translate computes a Gateway's listeners, routes and status.
func Translate(in Input) Result {
	t := &translation{in: in, gw: in.Gateway, dests: map[string][]string{}, redirects: map[int32]int32{}}
	for _, d := range in.Destinations {
		t.dests[d.Address] = d.SpiffeIds
	}
	t.readAnnotations()
	t.checkListeners()
	var res Result
	for _, r := range t.routes() {
		if st := t.attachRoute(r); len(st.Parents) > 0 {
			res.Routes = append(res.Routes, st)
		}
	}
	res.Listeners = t.assemble()
	res.Status = t.status()
	return res
}

func (t *translation) readAnnotations() {
	t.forwarders, t.annotationErr = trustedForwarders(t.gw.Annotations[AnnotationTrustedForwarders])
	if v := t.gw.Annotations[AnnotationHSTS]; v != "" && t.annotationErr == "" {
		var err error
		if t.hsts, err = config.ParseHSTS(v); err != nil {
			t.annotationErr = fmt.Sprintf("annotation %s: %v", AnnotationHSTS, err)
		}
	}
}

// trustedForwarders reads the annotation's comma-separated list.
func trustedForwarders(v string) ([]netip.Prefix, string) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		p, err := config.AddrOrPrefix(item)
		if err != nil {
			return nil, fmt.Sprintf("annotation %s: %q is not an address or a CIDR; write for example \"10.0.0.0/16, 10.1.0.0/16\" (the load balancers' subnets)", AnnotationTrustedForwarders, item)
		}
		out = append(out, p)
	}
	return out, ""
}

// route is what HTTPRoutes and TLSRoutes share.
type route struct {
	kind      string
	meta      *metav1.ObjectMeta
	parents   []gwv1.ParentReference
	hostnames []gwv1.Hostname
	http      *gwv1.HTTPRoute // one of these
	tls       *gwv1.TLSRoute
}

// routes are every route, oldest first: where two routes claim the same
// name and path, the older one wins, as Gateway API orders them.
func (t *translation) routes() []*route {
	var out []*route
	for _, r := range t.in.HTTPRoutes {
		out = append(out, &route{kind: KindHTTPRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, http: r})
	}
	for _, r := range t.in.TLSRoutes {
		out = append(out, &route{kind: KindTLSRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames, tls: r})
	}
	slices.SortStableFunc(out, func(a, b *route) int {
		return cmp.Or(a.meta.CreationTimestamp.Compare(b.meta.CreationTimestamp.Time),
			cmp.Compare(a.meta.Namespace, b.meta.Namespace), cmp.Compare(a.meta.Name, b.meta.Name), cmp.Compare(a.kind, b.kind))
	})
	return out
}

// condition is a metav1.Condition, True when ok.
func condition(typ string, ok bool, reason, msg string, gen int64) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen}
}
