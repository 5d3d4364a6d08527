package gatewayapi

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/config"
)

// claim is what one attached route asks one listener to serve for one
// server name.
type claim struct {
	route    *route
	listener *lis
	hostname string
	rules    *compiled
}

// names reports whether a parentRef names this Gateway.
func (t *translation) names(r *route, p gwv1.ParentReference) bool {
	ns := r.meta.Namespace
	if p.Namespace != nil {
		ns = string(*p.Namespace)
	}
	return (p.Group == nil || *p.Group == gwv1.GroupName) && (p.Kind == nil || *p.Kind == "Gateway") &&
		ns == t.gw.Namespace && string(p.Name) == t.gw.Name
}

func (t *translation) attachRoute(r *route) RouteStatus {
	st := RouteStatus{Kind: r.kind, Namespace: r.meta.Namespace, Name: r.meta.Name}
	var rules *compiled
	for _, p := range r.parents {
		if !t.names(r, p) {
			continue
		}
		if rules == nil {
			rules = t.compile(r)
		}
		st.Parents = append(st.Parents, t.attachParent(r, p, rules))
	}
	return st
}

// problem is why a route does not attach to a listener; step orders them
// by how far the route got, and the furthest is reported.
type problem struct {
	step        int
	reason, msg string
}

func (t *translation) attachParent(r *route, p gwv1.ParentReference, rules *compiled) gwv1.RouteParentStatus {
	gen := r.meta.Generation
	worst := problem{reason: string(gwv1.RouteReasonNoMatchingParent), msg: "the Gateway has no listener"}
	switch {
	case p.SectionName != nil && p.Port != nil:
		worst.msg = fmt.Sprintf("the Gateway has no listener named %s on port %d", *p.SectionName, *p.Port)
	case p.SectionName != nil:
		worst.msg = fmt.Sprintf("the Gateway has no listener named %s", *p.SectionName)
	case p.Port != nil:
		worst.msg = fmt.Sprintf("the Gateway has no listener on port %d", *p.Port)
	}
	var attached []string
	for _, l := range t.listeners {
		if (p.SectionName != nil && l.spec.Name != *p.SectionName) || (p.Port != nil && l.spec.Port != *p.Port) {
			continue
		}
		hosts, prob := t.fits(r, l, rules)
		if prob != nil {
			if prob.step >= worst.step {
				worst = *prob
			}
			continue
		}
		l.attached++
		attached = append(attached, string(l.spec.Name))
		for _, h := range hosts {
			t.claims = append(t.claims, claim{route: r, listener: l, hostname: h, rules: rules})
		}
		if l.plain() && rules.redirectPort != 0 {
			if _, set := t.redirects[l.spec.Port]; !set {
				t.redirects[l.spec.Port] = rules.redirectPort
			}
		}
	}
	accepted := condition(string(gwv1.RouteConditionAccepted), true, string(gwv1.RouteReasonAccepted),
		"attached to listener "+strings.Join(attached, ", "), gen)
	if len(attached) == 0 {
		accepted = condition(string(gwv1.RouteConditionAccepted), false, worst.reason, worst.msg, gen)
	}
	resolved := condition(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), "references resolved", gen)
	if rules.unresolved != "" {
		resolved = condition(string(gwv1.RouteConditionResolvedRefs), false, rules.unresolved, rules.unresolvedMsg, gen)
	}
	return gwv1.RouteParentStatus{ParentRef: p, ControllerName: ControllerName, Conditions: []metav1.Condition{accepted, resolved}}
}

// fits checks a route against one listener and returns the server names
// it would serve there.
func (t *translation) fits(r *route, l *lis, rules *compiled) ([]string, *problem) {
	name := l.spec.Name
	if !takesKind(l, r.kind) {
		return nil, &problem{1, string(gwv1.RouteReasonNotAllowedByListeners), fmt.Sprintf("listener %s (%s) does not take %ss", name, l.spec.Protocol, r.kind)}
	}
	if msg := t.namespaceAllowed(l, r.meta.Namespace); msg != "" {
		return nil, &problem{2, string(gwv1.RouteReasonNotAllowedByListeners), fmt.Sprintf("listener %s %s", name, msg)}
	}
	if !l.ok() {
		return nil, &problem{3, string(gwv1.RouteReasonNotAllowedByListeners), fmt.Sprintf("listener %s is not programmed: %s", name, or(l.notAcceptedMsg, l.unresolvedMsg, l.conflictMsg))}
	}
	if msg := rules.fitsListener(l); msg != "" {
		return nil, &problem{4, string(gwv1.RouteReasonUnsupportedValue), msg}
	}
	if l.plain() {
		return nil, nil // a redirect listener serves every name the Gateway does
	}
	hosts := intersect(l.hostname, r.hostnames)
	if len(hosts) == 0 {
		return nil, &problem{5, string(gwv1.RouteReasonNoMatchingListenerHostname), fmt.Sprintf("no hostname of the route matches listener %s's %q", name, l.hostname)}
	}
	for _, h := range hosts {
		if h == "" {
			return nil, &problem{5, string(gwv1.RouteReasonUnsupportedValue), "hopseal chooses routes by server name (SNI): give the route hostnames or listener " + string(name) + " a hostname"}
		}
		if err := config.CheckRouteHostname(h); err != nil {
			return nil, &problem{5, string(gwv1.RouteReasonUnsupportedValue), "hostname " + err.Error()}
		}
	}
	return hosts, nil
}

func takesKind(l *lis, kind string) bool {
	for _, k := range l.kinds {
		if string(k.Kind) == kind {
			return true
		}
	}
	return false
}

// namespaceAllowed says why a listener refuses routes of ns, or "".
func (t *translation) namespaceAllowed(l *lis, ns string) string {
	from := gwv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if a := l.spec.AllowedRoutes; a != nil && a.Namespaces != nil {
		if a.Namespaces.From != nil {
			from = *a.Namespaces.From
		}
		sel = a.Namespaces.Selector
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return ""
	case gwv1.NamespacesFromSame:
		if ns == t.gw.Namespace {
			return ""
		}
		return "takes routes of namespace " + t.gw.Namespace + " only (allowedRoutes.namespaces.from: Same)"
	case gwv1.NamespacesFromSelector:
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || sel == nil {
			return "has an invalid allowedRoutes.namespaces.selector"
		}
		if s.Matches(labels.Set(t.in.Namespaces[ns])) {
			return ""
		}
		return "takes routes of namespaces matching " + s.String() + " only"
	}
	return "takes no routes (allowedRoutes.namespaces.from: " + string(from) + ")"
}

// intersect returns the server names a route's hostnames and a listener's
// hostname have in common, each the more specific of the two; [""] when
// neither names any.
func intersect(listener string, route []gwv1.Hostname) []string {
	if len(route) == 0 {
		return []string{listener}
	}
	var out []string
	for _, rh := range route {
		h := strings.ToLower(string(rh))
		switch {
		case listener == "":
			out = append(out, h)
		case covers(listener, h):
			out = append(out, h)
		case covers(h, listener):
			out = append(out, listener)
		}
	}
	return out
}

// covers reports whether pattern (a name or *.suffix) matches every name
// that name does: equal names, or a wildcard over a name or a narrower
// wildcard. A wildcard covers names below it at any depth, as Gateway API
// reads it; the gateway then serves the narrower name.
func covers(pattern, name string) bool {
	if pattern == name {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*")
	return ok && strings.HasSuffix(name, suffix) && len(name) > len(suffix)
}
