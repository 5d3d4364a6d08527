package cluster

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/kube/authz"
	"github.com/hopseal/hopseal/internal/kube/check"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/netfilter"
)

// view is a Snapshot indexed for the checks. Building it is the only work
// done before them; they read it and never change it.
type view struct {
	s        *Snapshot
	o        Options
	now      time.Time
	nsLabels map[string]map[string]string
	pods     []*corev1.Pod // running or pending pods of scanned namespaces
	mesh     map[*corev1.Pod]podMesh
	policies *Policies
}

// podMesh is what hopseal does for a pod.
type podMesh struct {
	proxy    bool
	mode     v1alpha1.MTLSMode
	modeFrom string // the MTLSPolicy that set mode, <namespace>/<name>
	// Interception exclusions, from the pod's annotations.
	excludedIn, excludedOut []uint16
	excludedCIDRs           string
}

// protects reports whether the proxy takes every connection to port and
// refuses plaintext on it.
func (m podMesh) protects(port int32) bool {
	return m.proxy && m.mode == v1alpha1.ModeStrict && !slices.Contains(m.excludedIn, uint16(port))
}

func newView(s *Snapshot, o Options) *view {
	o = o.withDefaults()
	v := &view{s: s, o: o, now: o.Now(), nsLabels: map[string]map[string]string{}, mesh: map[*corev1.Pod]podMesh{}}
	for _, ns := range s.Namespaces {
		v.nsLabels[ns.Name] = ns.Labels
	}
	// The trust domain only has to be valid: modes do not depend on it.
	td := spiffeid.RequireTrustDomainFromString(inject.DefaultTrustDomain)
	for i := range s.Pods {
		p := &s.Pods[i]
		if !active(p) || !inScope(o, p.Namespace) {
			continue
		}
		v.pods = append(v.pods, p)
		res := authz.ForWorkload(authz.Workload{Namespace: p.Namespace, Labels: p.Labels}, td, nil, s.MTLSPolicies)
		m := podMesh{proxy: check.HasProxy(p), mode: res.Mode, modeFrom: res.ModeFrom,
			excludedCIDRs: p.Annotations[inject.AnnotationExcludeOutboundCIDRs]}
		// Values the webhook would refuse cannot be on an injected pod.
		m.excludedIn, _ = netfilter.ParsePorts(p.Annotations[inject.AnnotationExcludeInboundPorts])
		m.excludedOut, _ = netfilter.ParsePorts(p.Annotations[inject.AnnotationExcludeOutboundPorts])
		v.mesh[p] = m
	}
	v.policies = NewPolicies(s.NetworkPolicies, v.nsLabels)
	return v
}

// active: a pod that runs or will run. Finished and deleted pods send
// nothing.
func active(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// systemNamespace: Kubernetes' own and hopseal's control plane, which
// hopseal never injects.
func (v *view) systemNamespace(ns string) bool {
	switch ns {
	case "kube-system", "kube-public", "kube-node-lease", v.o.HopsealNamespace:
		return true
	}
	return false
}

// podsIn are the active pods of ns.
func (v *view) podsIn(ns string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range v.pods {
		if p.Namespace == ns {
			out = append(out, p)
		}
	}
	return out
}

// scannedNamespaces are the names of the namespaces in scope, sorted.
func (v *view) scannedNamespaces() []string {
	var out []string
	for _, ns := range v.s.Namespaces {
		if inScope(v.o, ns.Name) {
			out = append(out, ns.Name)
		}
	}
	slices.Sort(out)
	return out
}

// endpoint is p as NetworkPolicies see it.
func endpoint(p *corev1.Pod) Endpoint {
	e := Endpoint{Namespace: p.Namespace, Labels: p.Labels}
	e.IP, _ = netip.ParseAddr(p.Status.PodIP)
	for _, c := range p.Spec.Containers {
		e.Ports = append(e.Ports, c.Ports...)
	}
	return e
}

// workload names the object that made p: a Deployment for pods of its
// ReplicaSets, else the controlling owner, else the pod itself.
func workload(p *corev1.Pod) string {
	for _, ref := range p.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if hash := p.Labels["pod-template-hash"]; ref.Kind == "ReplicaSet" && hash != "" {
			if d, ok := strings.CutSuffix(ref.Name, "-"+hash); ok {
				return "Deployment " + d
			}
		}
		return ref.Kind + " " + ref.Name
	}
	return "Pod " + p.Name
}

// group is pods of one workload.
type group struct {
	namespace, workload string
	pods                []string
}

// title reads e.g. "Deployment shop/web".
func (g group) title() string {
	kind, name, _ := strings.Cut(g.workload, " ")
	return kind + " " + g.namespace + "/" + name
}

// byWorkload groups pods by namespace and workload, in first-seen order.
func byWorkload(pods []*corev1.Pod) []group {
	var out []group
	index := map[string]int{}
	for _, p := range pods {
		k := p.Namespace + "/" + workload(p)
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, group{namespace: p.Namespace, workload: workload(p)})
		}
		out[i].pods = append(out[i].pods, p.Name)
	}
	return out
}

// maxListed caps the names an evidence line lists.
const maxListed = 10

// list joins names, at most maxListed of them.
func list(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}

func ports16(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}
