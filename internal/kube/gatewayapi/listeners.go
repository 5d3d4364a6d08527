package gatewayapi

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway/certs"
)

// lis is one Gateway listener as hopseal sees it.
type lis struct {
	spec     gwv1.Listener
	index    int
	hostname string                // lowercase; "" = any
	kinds    []gwv1.RouteGroupKind // the route kinds it takes
	cert     *config.CertPEM       // HTTPS
	attached int32
	// Problems, as condition reasons and messages; "" = none.
	notAccepted, notAcceptedMsg string
	unresolved, unresolvedMsg   string
	conflict, conflictMsg       string
}

// ok: the listener is served.
func (l *lis) ok() bool { return l.notAccepted == "" && l.unresolved == "" && l.conflict == "" }

// plain: an HTTP listener (only redirects).
func (l *lis) plain() bool { return l.spec.Protocol == gwv1.HTTPProtocolType }

func (l *lis) refuse(reason gwv1.ListenerConditionReason, format string, args ...any) {
	if l.notAccepted == "" {
		l.notAccepted, l.notAcceptedMsg = string(reason), fmt.Sprintf(format, args...)
	}
}

func (l *lis) unresolve(reason gwv1.ListenerConditionReason, format string, args ...any) {
	if l.unresolved == "" {
		l.unresolved, l.unresolvedMsg = string(reason), fmt.Sprintf(format, args...)
	}
}

// routeKind is the only route kind each protocol takes.
var routeKind = map[gwv1.ProtocolType]gwv1.Kind{
	gwv1.HTTPProtocolType:  KindHTTPRoute,
	gwv1.HTTPSProtocolType: KindHTTPRoute,
	gwv1.TLSProtocolType:   KindTLSRoute,
}

func (t *translation) checkListeners() {
	for i, spec := range t.gw.Spec.Listeners {
		l := &lis{spec: spec, index: i}
		if spec.Hostname != nil {
			l.hostname = strings.ToLower(string(*spec.Hostname))
		}
		t.checkProtocol(l)
		t.checkKinds(l)
		if l.notAccepted == "" && spec.Protocol == gwv1.HTTPSProtocolType {
			t.resolveCert(l)
		}
		t.listeners = append(t.listeners, l)
	}
	t.checkConflicts()
}

func (t *translation) checkProtocol(l *lis) {
	mode := gwv1.TLSModeTerminate // Gateway API's default
	if l.spec.TLS != nil && l.spec.TLS.Mode != nil {
		mode = *l.spec.TLS.Mode
	}
	switch l.spec.Protocol {
	case gwv1.HTTPProtocolType:
	case gwv1.HTTPSProtocolType:
		if mode != gwv1.TLSModeTerminate {
			l.refuse(gwv1.ListenerReasonUnsupportedValue, "an HTTPS listener terminates TLS; use protocol TLS with mode Passthrough to pass TLS through")
		}
	case gwv1.TLSProtocolType:
		if mode != gwv1.TLSModePassthrough {
			l.refuse(gwv1.ListenerReasonUnsupportedValue, "hopseal's TLS listeners pass TLS through (tls.mode Passthrough); to terminate TLS use protocol HTTPS")
		}
	default:
		l.refuse(gwv1.ListenerReasonUnsupportedProtocol, "protocol %s is not supported; hopseal serves HTTP (redirects to https only), HTTPS and TLS", l.spec.Protocol)
		return
	}
	if l.hostname != "" {
		if err := config.CheckRouteHostname(l.hostname); err != nil {
			l.refuse(gwv1.ListenerReasonUnsupportedValue, "hostname %s", err)
		}
	}
}

// checkKinds keeps the allowed route kinds the protocol supports.
func (t *translation) checkKinds(l *lis) {
	want, ok := routeKind[l.spec.Protocol]
	if !ok {
		return
	}
	group := gwv1.Group(gwv1.GroupName)
	if l.spec.AllowedRoutes == nil || len(l.spec.AllowedRoutes.Kinds) == 0 {
		l.kinds = []gwv1.RouteGroupKind{{Group: &group, Kind: want}}
		return
	}
	var bad []string
	for _, k := range l.spec.AllowedRoutes.Kinds {
		if (k.Group == nil || *k.Group == group) && k.Kind == want {
			l.kinds = []gwv1.RouteGroupKind{{Group: &group, Kind: want}}
		} else {
			bad = append(bad, string(k.Kind))
		}
	}
	if len(bad) > 0 {
		l.unresolve(gwv1.ListenerReasonInvalidRouteKinds, "a %s listener takes %s only, not %s", l.spec.Protocol, want, strings.Join(bad, ", "))
	}
}

// resolveCert reads the listener's first certificateRef: a Secret of the
// Gateway's namespace, or of another one that grants it.
func (t *translation) resolveCert(l *lis) {
	if l.spec.TLS == nil || len(l.spec.TLS.CertificateRefs) == 0 {
		l.unresolve(gwv1.ListenerReasonInvalidCertificateRef, "an HTTPS listener needs tls.certificateRefs: a Secret of type kubernetes.io/tls")
		return
	}
	ref := l.spec.TLS.CertificateRefs[0]
	key, ok := secretRef(t.gw, ref)
	if !ok {
		l.unresolve(gwv1.ListenerReasonInvalidCertificateRef, "certificateRefs[0] is a %s; hopseal reads Secrets (group \"\", kind Secret)", refKind(ref.Group, ref.Kind))
		return
	}
	if !permitted(t.in.Grants, gwv1.GroupName, "Gateway", t.gw.Namespace, "Secret", key) {
		l.unresolve(gwv1.ListenerReasonRefNotPermitted, "Secret %s is in another namespace and no ReferenceGrant there allows Gateways of %s to use it", key, t.gw.Namespace)
		return
	}
	s := t.in.Secrets[key]
	if s == nil && t.in.Unreadable[key] {
		l.unresolve(gwv1.ListenerReasonInvalidCertificateRef, "the controller may not read Secret %s; allow it (chart value gateway.secretNamespaces)", key)
		return
	}
	if s == nil {
		l.unresolve(gwv1.ListenerReasonInvalidCertificateRef, "Secret %s does not exist", key)
		return
	}
	chain, keyPEM := s.Data["tls.crt"], s.Data["tls.key"]
	if _, err := certs.NewMemory("Secret "+key.String(), chain, keyPEM, t.in.Now); err != nil {
		l.unresolve(gwv1.ListenerReasonInvalidCertificateRef, "%v", err)
		return
	}
	l.cert = &config.CertPEM{Name: key.String(), Chain: chain, Key: keyPEM}
}

// checkConflicts: on one port, listeners must all be HTTP or all TLS
// (HTTPS and TLS share a port, told apart by server name), and hostnames
// must differ. The first listener of a conflict keeps the port.
func (t *translation) checkConflicts() {
	for i, l := range t.listeners {
		if l.notAccepted != "" {
			continue
		}
		for _, prev := range t.listeners[:i] {
			if prev.notAccepted != "" || prev.spec.Port != l.spec.Port {
				continue
			}
			switch {
			case prev.plain() != l.plain():
				l.conflict, l.conflictMsg = string(gwv1.ListenerReasonProtocolConflict),
					fmt.Sprintf("port %d is taken by listener %s (%s); plain HTTP and TLS cannot share a port", l.spec.Port, prev.spec.Name, prev.spec.Protocol)
			case prev.hostname == l.hostname:
				l.conflict, l.conflictMsg = string(gwv1.ListenerReasonHostnameConflict),
					fmt.Sprintf("listener %s has the same port and hostname %q", prev.spec.Name, l.hostname)
			}
			if l.conflict != "" {
				break
			}
		}
	}
}

// listenerStatus reports one listener.
func (t *translation) listenerStatus(l *lis) gwv1.ListenerStatus {
	gen := t.gw.Generation
	conds := []metav1.Condition{
		condition(string(gwv1.ListenerConditionAccepted), l.notAccepted == "", or(l.notAccepted, string(gwv1.ListenerReasonAccepted)),
			or(l.notAcceptedMsg, "accepted"), gen),
		condition(string(gwv1.ListenerConditionResolvedRefs), l.unresolved == "", or(l.unresolved, string(gwv1.ListenerReasonResolvedRefs)),
			or(l.unresolvedMsg, "references resolved"), gen),
		condition(string(gwv1.ListenerConditionConflicted), l.conflict != "", or(l.conflict, string(gwv1.ListenerReasonNoConflicts)),
			or(l.conflictMsg, "no conflicts"), gen),
	}
	prog := condition(string(gwv1.ListenerConditionProgrammed), true, string(gwv1.ListenerReasonProgrammed), "translated for the gateway", gen)
	if !l.ok() {
		prog = condition(string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid),
			or(l.notAcceptedMsg, l.unresolvedMsg, l.conflictMsg), gen)
	}
	kinds := l.kinds
	if kinds == nil {
		kinds = []gwv1.RouteGroupKind{}
	}
	return gwv1.ListenerStatus{Name: l.spec.Name, SupportedKinds: kinds, AttachedRoutes: l.attached, Conditions: append(conds, prog)}
}

func or(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// secretRef is the Secret a certificateRef names, if it names one.
func secretRef(gw *gwv1.Gateway, ref gwv1.SecretObjectReference) (types.NamespacedName, bool) {
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret") {
		return types.NamespacedName{}, false
	}
	ns := gw.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return types.NamespacedName{Namespace: ns, Name: string(ref.Name)}, true
}

// SecretRefs are the Secrets a Gateway's HTTPS listeners may read: the
// first certificateRef of each, where it is in the Gateway's namespace or a
// ReferenceGrant allows it. The controller reads only these.
func SecretRefs(gw *gwv1.Gateway, grants []*gwv1.ReferenceGrant) []types.NamespacedName {
	var out []types.NamespacedName
	for _, l := range gw.Spec.Listeners {
		if l.Protocol != gwv1.HTTPSProtocolType || l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
			continue
		}
		if key, ok := secretRef(gw, l.TLS.CertificateRefs[0]); ok && permitted(grants, gwv1.GroupName, "Gateway", gw.Namespace, "Secret", key) {
			out = append(out, key)
		}
	}
	return out
}

func refKind(group *gwv1.Group, kind *gwv1.Kind) string {
	g, k := "core", "Secret"
	if group != nil && *group != "" {
		g = string(*group)
	}
	if kind != nil {
		k = string(*kind)
	}
	return k + " of group " + g
}
