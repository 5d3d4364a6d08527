package gatewayapi

import (
	"fmt"
	"net"
	"strconv"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/config"
)

// permitted reports whether an object of fromKind in fromNS may refer to
// the core object toKind at key: always in its own namespace, else only
// when a ReferenceGrant in key's namespace says so (from that group, kind
// and namespace; to that kind, and that name or every name).
func permitted(grants []*gwv1.ReferenceGrant, fromGroup, fromKind, fromNS, toKind string, key types.NamespacedName) bool {
	if key.Namespace == fromNS {
		return true
	}
	for _, g := range grants {
		if g.Namespace != key.Namespace {
			continue
		}
		from := false
		for _, f := range g.Spec.From {
			if string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS {
				from = true
			}
		}
		if !from {
			continue
		}
		for _, to := range g.Spec.To {
			if to.Group == "" && string(to.Kind) == toKind && (to.Name == nil || *to.Name == "" || string(*to.Name) == key.Name) {
				return true
			}
		}
	}
	return false
}

// backend is a resolved backendRef: a mesh address, or why it is not one.
type backend struct {
	cfg         config.Backend // Address "" when unresolved
	reason, msg string         // ResolvedRefs reason and message when unresolved
}

func unresolved(reason gwv1.RouteConditionReason, format string, args ...any) backend {
	return backend{reason: string(reason), msg: fmt.Sprintf(format, args...)}
}

// resolveBackend turns a route's backendRef into the Service's meshed
// cluster address and the identity its endpoints prove. Only Services
// whose every endpoint runs hopseal's proxy resolve: the gateway reaches
// them over mesh mTLS, and to anything else it would have to speak
// plaintext.
func (t *translation) resolveBackend(r *route, ref gwv1.BackendRef) backend {
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Service") {
		return unresolved(gwv1.RouteReasonInvalidKind, "backendRef %s is a %s; hopseal routes to Services", ref.Name, refKind(ref.Group, ref.Kind))
	}
	key := types.NamespacedName{Namespace: r.meta.Namespace, Name: string(ref.Name)}
	if ref.Namespace != nil {
		key.Namespace = string(*ref.Namespace)
	}
	if !permitted(t.in.Grants, gwv1.GroupName, r.kind, r.meta.Namespace, "Service", key) {
		return unresolved(gwv1.RouteReasonRefNotPermitted, "Service %s is in another namespace and no ReferenceGrant there allows %ss of %s to use it", key, r.kind, r.meta.Namespace)
	}
	svc := t.in.Services[key]
	if svc == nil {
		return unresolved(gwv1.RouteReasonBackendNotFound, "Service %s does not exist", key)
	}
	if ref.Port == nil {
		return unresolved(gwv1.RouteReasonBackendNotFound, "backendRef %s needs a port", key)
	}
	sp := servicePort(svc, *ref.Port)
	if sp == nil {
		return unresolved(gwv1.RouteReasonBackendNotFound, "Service %s has no TCP port %d", key, *ref.Port)
	}
	for _, ip := range svc.Spec.ClusterIPs {
		addr := net.JoinHostPort(ip, strconv.Itoa(int(*ref.Port)))
		ids, ok := t.dests[addr]
		if !ok {
			continue
		}
		if len(ids) != 1 {
			return unresolved(gwv1.RouteReasonBackendNotFound, "Service %s's endpoints run as %d identities (%v); the gateway verifies one per backend: give them one service account", key, len(ids), ids)
		}
		b := config.Backend{Address: addr, Protocol: config.HTTP1}
		if sp.AppProtocol != nil && *sp.AppProtocol == "kubernetes.io/h2c" {
			b.Protocol = config.HTTP2
		}
		id, err := spiffeid.FromString(ids[0])
		if err != nil {
			return unresolved(gwv1.RouteReasonBackendNotFound, "Service %s: %q is not a SPIFFE ID", key, ids[0])
		}
		b.ServerID = id
		return backend{cfg: b}
	}
	return unresolved(gwv1.RouteReasonBackendNotFound, "Service %s port %d is not in the mesh: it has no cluster IP or no endpoints, or some of its pods run without hopseal's proxy", key, *ref.Port)
}

func servicePort(svc *corev1.Service, port int32) *corev1.ServicePort {
	for i, p := range svc.Spec.Ports {
		if p.Port == port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}
