package gatewayapi

import (
	"cmp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/config"
)

// DefaultRedirectPort is where an HTTP listener redirects when no route
// says and the Gateway has no single TLS port.
const DefaultRedirectPort = 443

type portHost struct {
	port int32
	host string
}

// assemble builds the gateway's listeners: one per port of the programmed
// Gateway listeners, each server name served by the most specific Gateway
// listener that claims it, with the routes' backends merged oldest first.
func (t *translation) assemble() []config.GatewayListener {
	if len(t.gw.Spec.Addresses) > 0 || t.annotationErr != "" {
		return nil // not accepted
	}
	best := map[portHost]*lis{}
	for _, c := range t.claims {
		k := portHost{c.listener.spec.Port, c.hostname}
		if b := best[k]; b == nil || moreSpecific(c.listener, b, c.hostname) {
			best[k] = c.listener
		}
	}
	routes := map[portHost]*config.Route{}
	for _, c := range t.claims {
		k := portHost{c.listener.spec.Port, c.hostname}
		if best[k] == c.listener {
			routes[k] = merge(routes[k], c, t.hsts)
		}
	}
	var out []config.GatewayListener
	for _, port := range t.ports() {
		out = append(out, t.listenerFor(port, routes))
	}
	return out
}

// ports are those of programmed listeners, in order.
func (t *translation) ports() []int32 {
	var ports []int32
	for _, l := range t.listeners {
		if l.ok() && !slices.Contains(ports, l.spec.Port) {
			ports = append(ports, l.spec.Port)
		}
	}
	slices.Sort(ports)
	return ports
}

func (t *translation) listenerFor(port int32, routes map[portHost]*config.Route) config.GatewayListener {
	var names []string
	plain := false
	for _, l := range t.listeners {
		if l.ok() && l.spec.Port == port {
			names = append(names, string(l.spec.Name))
			plain = l.plain()
		}
	}
	gl := config.GatewayListener{Name: strings.Join(names, ","), Listen: config.ListenAddr(int(port)),
		ProxyProtocol: t.gw.Annotations[AnnotationProxyProtocol] == "true"}
	if plain {
		gl.RedirectPort = int(cmp.Or(t.redirects[port], t.tlsPort()))
		return gl
	}
	gl.TrustedForwarders = t.forwarders
	for k, r := range routes {
		if k.port == port {
			// Stable: the backends of a weighted split keep their order.
			slices.SortStableFunc(r.Backends, func(a, b config.Backend) int { return cmp.Compare(a.PathPrefix, b.PathPrefix) })
			gl.Routes = append(gl.Routes, *r)
		}
	}
	slices.SortFunc(gl.Routes, func(a, b config.Route) int { return cmp.Compare(a.Hostname, b.Hostname) })
	return gl
}

// tlsPort is where HTTP listeners redirect by default: the Gateway's one
// TLS port, else 443.
func (t *translation) tlsPort() int32 {
	var ports []int32
	for _, l := range t.listeners {
		if l.ok() && !l.plain() && !slices.Contains(ports, l.spec.Port) {
			ports = append(ports, l.spec.Port)
		}
	}
	if len(ports) == 1 {
		return ports[0]
	}
	return DefaultRedirectPort
}

// moreSpecific: a listener naming host exactly beats a wildcard, a longer
// wildcard a shorter one, any hostname none; then the earlier listener.
func moreSpecific(a, b *lis, host string) bool {
	rank := func(l *lis) int {
		switch {
		case l.hostname == host:
			return 0
		case l.hostname != "":
			return 1
		}
		return 2
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(len(b.hostname), len(a.hostname)), cmp.Compare(a.index, b.index)) < 0
}

// merge adds a claim's rules to the route of its server name: the first
// claim of a path prefix (the oldest route's) wins.
func merge(r *config.Route, c claim, hsts *config.HSTS) *config.Route {
	if c.listener.spec.Protocol == gwv1.TLSProtocolType {
		if r == nil && c.rules.pass != nil {
			b := c.rules.pass.cfg
			b.Protocol = "" // the client's TLS, carried as it is
			r = &config.Route{Hostname: c.hostname, Mode: config.Passthrough, Backends: []config.Backend{b}}
		}
		return r
	}
	if r == nil {
		r = &config.Route{Hostname: c.hostname, Mode: config.Terminate, Cert: c.listener.cert, HSTS: hsts}
	}
	// A prefix stays with the first route, and the first rule, that claims
	// it; the backends of that one rule split it.
	owner := map[string]int{}
	for _, b := range r.Backends {
		owner[b.PathPrefix] = -1
	}
	for _, pb := range c.rules.paths {
		if rule, taken := owner[pb.prefix]; taken && rule != pb.rule {
			continue
		}
		owner[pb.prefix] = pb.rule
		b := pb.b.cfg
		b.PathPrefix = pb.prefix
		r.Backends = append(r.Backends, b)
	}
	return r
}

// status is the Gateway's status: conditions and listeners.
func (t *translation) status() gwv1.GatewayStatus {
	gen := t.gw.Generation
	st := gwv1.GatewayStatus{}
	var bad []string
	for _, l := range t.listeners {
		st.Listeners = append(st.Listeners, t.listenerStatus(l))
		if !l.ok() {
			bad = append(bad, string(l.spec.Name))
		}
	}
	valid := len(t.listeners) - len(bad)
	var accepted metav1.Condition
	switch {
	case len(t.gw.Spec.Addresses) > 0:
		accepted = condition(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonUnsupportedAddress),
			"hopseal gateways take the address of their Service (type LoadBalancer by default); remove spec.addresses", gen)
	case t.annotationErr != "":
		accepted = condition(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonInvalidParameters), t.annotationErr, gen)
	case valid == 0:
		accepted = condition(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonListenersNotValid),
			"no listener is valid; see the listeners' conditions", gen)
	case len(bad) > 0:
		accepted = condition(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonListenersNotValid),
			"listeners not served: "+strings.Join(bad, ", ")+"; see their conditions", gen)
	default:
		accepted = condition(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted), "accepted by hopseal", gen)
	}
	programmed := condition(string(gwv1.GatewayConditionProgrammed), true, string(gwv1.GatewayReasonProgrammed),
		"translated for the hopseal gateways that serve it", gen)
	if accepted.Status != metav1.ConditionTrue {
		programmed = condition(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid), accepted.Message, gen)
	}
	st.Conditions = []metav1.Condition{accepted, programmed}
	return st
}
