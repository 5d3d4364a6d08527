package cluster

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/kube/check"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

// Rules of the mesh coverage checks.
const (
	RuleNamespaceNotMeshed  = "cluster/namespace-not-meshed"
	RulePodMissingProxy     = "cluster/pod-missing-proxy"
	RulePodOptedOut         = "cluster/pod-opted-out"
	RuleSystemNamespace     = "cluster/system-namespace"
	RuleHostNetwork         = "cluster/host-network"
	RulePermissiveMode      = "cluster/permissive-mode"
	RuleInterceptionExclude = "cluster/interception-excluded"
)

// unmeshed sorts a namespace's pods without the proxy by why they lack it.
type unmeshed struct {
	host, missing, optedOut, unlabelled []*corev1.Pod
}

func sortUnmeshed(v *view, ns string) unmeshed {
	var u unmeshed
	for _, p := range v.podsIn(ns) {
		switch {
		case p.Spec.HostNetwork:
			u.host = append(u.host, p)
		case v.mesh[p].proxy:
		case check.MissingProxy(v.nsLabels[ns], p):
			u.missing = append(u.missing, p)
		case v.nsLabels[ns][inject.LabelInject] == inject.Enabled:
			u.optedOut = append(u.optedOut, p)
		default:
			u.unlabelled = append(u.unlabelled, p)
		}
	}
	return u
}

// coverage finds pods whose traffic hopseal does not encrypt, namespace
// by namespace.
func coverage(v *view) []audit.Finding {
	var out []audit.Finding
	for _, ns := range v.scannedNamespaces() {
		u := sortUnmeshed(v, ns)
		if v.systemNamespace(ns) {
			if all := slices.Concat(u.host, u.missing, u.optedOut, u.unlabelled); len(all) > 0 {
				out = append(out, finding(RuleSystemNamespace, audit.Info, ns+": system namespace outside the mesh",
					subject("Namespace", "", ns), nil,
					"hopseal never injects system namespaces; their traffic is protected by their own TLS, if any",
					"without the proxy: "+names(all)))
			}
			continue
		}
		if len(u.unlabelled) > 0 {
			out = append(out, finding(RuleNamespaceNotMeshed, audit.High, ns+": namespace not in the mesh",
				subject("Namespace", "", ns), audit.InTransit,
				fmt.Sprintf("kubectl label namespace %s %s=%s, then restart its workloads (kubectl -n %s rollout restart deployment)", ns, inject.LabelInject, inject.Enabled, ns),
				fmt.Sprintf("label %s=%s absent", inject.LabelInject, inject.Enabled),
				"without the proxy: "+names(u.unlabelled)))
		}
		for _, g := range byWorkload(u.missing) {
			out = append(out, finding(RulePodMissingProxy, audit.High, g.title()+": wants the proxy but runs without it",
				workloadSubject(g.namespace, g.workload), audit.InTransit,
				fmt.Sprintf("restart the workload so the webhook injects it (kubectl -n %s rollout restart …); if it stays bare, run hopseal check", g.namespace),
				"pods: "+list(g.pods), "their namespace or annotation asks for injection; no hopseal-proxy container"))
		}
		for _, g := range byWorkload(u.optedOut) {
			out = append(out, finding(RulePodOptedOut, audit.Medium, g.title()+": opted out of the mesh",
				workloadSubject(g.namespace, g.workload), audit.InTransit,
				"remove the annotation "+inject.AnnotationInject+": "+inject.Disabled+" from the pod template, or make the app speak TLS itself",
				"pods: "+list(g.pods), "annotation "+inject.AnnotationInject+": "+inject.Disabled+" in a namespace with injection"))
		}
		for _, g := range byWorkload(u.host) {
			out = append(out, finding(RuleHostNetwork, audit.Medium, g.title()+": uses the node's network, outside the mesh",
				workloadSubject(g.namespace, g.workload), audit.InTransit,
				"run it without hostNetwork so hopseal can mesh it, or make it speak TLS itself",
				"pods: "+list(g.pods), "hostNetwork: true (hopseal does not inject such pods: interception would capture the node's own traffic)"))
		}
	}
	return append(append(out, permissive(v)...), exclusions(v)...)
}

// permissive finds MTLSPolicies in permissive mode, with the meshed pods
// whose mode they set.
func permissive(v *view) []audit.Finding {
	var out []audit.Finding
	for _, mp := range v.s.MTLSPolicies {
		if mp.Spec.Mode != v1alpha1.ModePermissive {
			continue
		}
		name := mp.Namespace + "/" + mp.Name
		var pods []string
		for _, p := range v.podsIn(mp.Namespace) {
			if m := v.mesh[p]; m.proxy && m.mode == v1alpha1.ModePermissive && m.modeFrom == name {
				pods = append(pods, p.Name)
			}
		}
		sev, what := audit.Medium, fmt.Sprintf("meshed pods that accept plaintext (%s): %s", plural(len(pods), "pod"), list(pods))
		if len(pods) == 0 {
			sev, what = audit.Low, "no running pod takes its mode from it now; new pods it selects will accept plaintext"
		}
		out = append(out, finding(RulePermissiveMode, sev, name+": permissive mode accepts plaintext",
			subject("MTLSPolicy", mp.Namespace, mp.Name), append([]audit.Control{audit.NISTSC23}, audit.InTransit...),
			"set spec.mode: strict (or delete the policy) once every client is in the mesh; hopseal audit capture shows which still send plaintext",
			what))
	}
	return out
}

// exclusions finds meshed pods whose annotations let traffic bypass the
// proxy.
func exclusions(v *view) []audit.Finding {
	var pods []*corev1.Pod
	for _, p := range v.pods {
		if m := v.mesh[p]; m.proxy && (len(m.excludedIn) > 0 || len(m.excludedOut) > 0 || m.excludedCIDRs != "") {
			pods = append(pods, p)
		}
	}
	var out []audit.Finding
	for _, g := range byWorkload(pods) {
		p := podNamed(v, g.namespace, g.pods[0])
		m := v.mesh[p]
		var ev []string
		if len(m.excludedIn) > 0 {
			ev = append(ev, fmt.Sprintf("%s: %s (peers reach these ports without mTLS)", inject.AnnotationExcludeInboundPorts, ports16(m.excludedIn)))
		}
		if len(m.excludedOut) > 0 {
			ev = append(ev, fmt.Sprintf("%s: %s (the app reaches these ports without mTLS)", inject.AnnotationExcludeOutboundPorts, ports16(m.excludedOut)))
		}
		if m.excludedCIDRs != "" {
			ev = append(ev, fmt.Sprintf("%s: %s", inject.AnnotationExcludeOutboundCIDRs, m.excludedCIDRs))
		}
		ev = append(ev, "pods: "+list(g.pods))
		out = append(out, finding(RuleInterceptionExclude, audit.Medium, g.title()+": traffic bypasses the proxy",
			workloadSubject(g.namespace, g.workload), audit.InTransit,
			"remove the exclusions, or make sure what crosses them is TLS (hopseal audit capture shows it)", ev...))
	}
	return out
}

func podNamed(v *view, ns, name string) *corev1.Pod {
	for _, p := range v.podsIn(ns) {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// names lists pods by name, with their number.
func names(pods []*corev1.Pod) string {
	s := make([]string, len(pods))
	for i, p := range pods {
		s[i] = p.Name
	}
	return fmt.Sprintf("%s (%s)", list(s), plural(len(pods), "pod"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func subject(kind, namespace, name string) audit.Subject {
	return audit.Subject{Kind: kind, Namespace: namespace, Name: name}
}

// workloadSubject is the subject of a workload as workload names it.
func workloadSubject(namespace, w string) audit.Subject {
	kind, name, _ := strings.Cut(w, " ")
	return subject(kind, namespace, name)
}

func finding(rule string, sev audit.Severity, title string, subj audit.Subject, controls []audit.Control, fix string, evidence ...string) audit.Finding {
	return audit.Finding{Rule: rule, Severity: sev, Title: title, Subject: subj, Controls: slices.Clone(controls), Evidence: evidence, Fix: fix}
}
