package mesh

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/netfilter"
)

// WorkloadID is the identity of pods running as serviceAccount in namespace.
func WorkloadID(td spiffeid.TrustDomain, namespace, serviceAccount string) (spiffeid.ID, error) {
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	return spiffeid.FromSegments(td, "ns", namespace, "sa", serviceAccount)
}

// meshed reports whether pod runs hopseal's proxy and can take
// connections: injected, on the pod network, not finished.
func meshed(pod *corev1.Pod) bool {
	_, injected := pod.Annotations[inject.AnnotationInjected]
	done := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	return injected && !pod.Spec.HostNetwork && !done && pod.DeletionTimestamp == nil
}

// Destinations lists the mesh's addresses: each meshed pod's IPs (every
// port but those its proxy does not intercept) and each Service port whose
// endpoints are all meshed pods. A Service with any endpoint outside the
// mesh is left out: the proxy dials the Service address and cannot know
// which endpoint answers, so mTLS would fail for some connections; its
// traffic leaves as egress (plaintext), where the audit sees it.
func Destinations(td spiffeid.TrustDomain, pods []*corev1.Pod, services []*corev1.Service, endpoints []*discoveryv1.EndpointSlice) []*meshv1.Destination {
	byAddr := map[string]*meshv1.Destination{}
	add := func(addr string, id spiffeid.ID, plain []uint32) {
		d := byAddr[addr]
		if d == nil {
			d = &meshv1.Destination{Address: addr}
			byAddr[addr] = d
		}
		d.SpiffeIds = append(d.SpiffeIds, id.String())
		d.PlaintextPorts = append(d.PlaintextPorts, plain...)
	}
	ids := map[podKey]spiffeid.ID{} // meshed pods
	for _, pod := range pods {
		if !meshed(pod) {
			continue
		}
		id, err := WorkloadID(td, pod.Namespace, pod.Spec.ServiceAccountName)
		if err != nil {
			continue // a name the API server would not have accepted
		}
		ids[podKey{pod.Namespace, pod.Name}] = id
		plain := plaintextPorts(pod)
		for _, ip := range pod.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				add(a.String(), id, plain)
			}
		}
	}
	for _, svc := range services {
		for _, port := range servicePorts(svc, endpoints, ids) {
			for _, id := range port.ids {
				add(port.addr, id, nil)
			}
		}
	}
	out := make([]*meshv1.Destination, 0, len(byAddr))
	for _, d := range byAddr {
		slices.Sort(d.SpiffeIds)
		d.SpiffeIds = slices.Compact(d.SpiffeIds)
		slices.Sort(d.PlaintextPorts)
		d.PlaintextPorts = slices.Compact(d.PlaintextPorts)
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *meshv1.Destination) int { return cmp.Compare(a.Address, b.Address) })
	return out
}

type podKey struct{ namespace, name string }

// plaintextPorts are the pod's ports its proxy leaves alone: the admin
// port and those excluded by annotation (checked by the injector).
func plaintextPorts(pod *corev1.Pod) []uint32 {
	out := []uint32{inject.AdminPort}
	if v, ok := pod.Annotations[inject.AnnotationExcludeInboundPorts]; ok {
		ports, _ := netfilter.ParsePorts(v)
		for _, p := range ports {
			out = append(out, uint32(p))
		}
	}
	return out
}

type servicePort struct {
	addr string // cluster IP:port
	ids  []spiffeid.ID
}

// servicePorts returns svc's cluster IP:port addresses whose endpoints are
// all meshed pods, with their identities.
func servicePorts(svc *corev1.Service, all []*discoveryv1.EndpointSlice, meshedPods map[podKey]spiffeid.ID) []servicePort {
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return nil // headless: clients dial pod IPs, which are listed
	}
	var ids []spiffeid.ID
	for _, es := range all {
		if es.Namespace != svc.Namespace || es.Labels[discoveryv1.LabelServiceName] != svc.Name {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Terminating != nil && *ep.Conditions.Terminating {
				continue
			}
			ref := ep.TargetRef
			if ref == nil || ref.Kind != "Pod" {
				return nil // an endpoint that is not a pod: not meshed
			}
			id, ok := meshedPods[podKey{cmp.Or(ref.Namespace, svc.Namespace), ref.Name}]
			if !ok {
				return nil
			}
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var out []servicePort
	for _, ip := range svc.Spec.ClusterIPs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			out = append(out, servicePort{addr: netip.AddrPortFrom(a, uint16(p.Port)).String(), ids: ids})
		}
	}
	return out
}
