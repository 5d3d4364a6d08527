package cluster

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/hopseal/hopseal/internal/audit"
)

// Ingress controllers whose annotations the scan understands.
const (
	controllerALB   = "alb"   // AWS Load Balancer Controller: the ALB is outside the cluster
	controllerNginx = "nginx" // ingress-nginx: in the cluster, meshable
)

// ingresses checks each backend of each Ingress.
func ingresses(v *view) ([]audit.Finding, []Exposure) {
	var out []audit.Finding
	var exp []Exposure
	for i := range v.s.Ingresses {
		ing := &v.s.Ingresses[i]
		for _, b := range ingressBackends(ing) {
			svc, sp := servicePort(v, ing.Namespace, b)
			e := ingressExposure(v, ing, b, svc, sp)
			exp = append(exp, e)
			if f, ok := ingressFinding(ing, e); ok {
				out = append(out, f)
			}
		}
	}
	return out, exp
}

// ingressBackends are the distinct Service backends of ing.
func ingressBackends(ing *networkingv1.Ingress) []*networkingv1.IngressServiceBackend {
	var out []*networkingv1.IngressServiceBackend
	seen := map[string]bool{}
	add := func(b *networkingv1.IngressBackend) {
		if b == nil || b.Service == nil {
			return
		}
		if k := backendName(b.Service); !seen[k] {
			seen[k] = true
			out = append(out, b.Service)
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				add(&r.HTTP.Paths[i].Backend)
			}
		}
	}
	return out
}

func backendName(b *networkingv1.IngressServiceBackend) string {
	if b.Port.Name != "" {
		return b.Name + ":" + b.Port.Name
	}
	return fmt.Sprintf("%s:%d", b.Name, b.Port.Number)
}

// servicePort finds the Service and port a backend names; nil when absent.
func servicePort(v *view, ns string, b *networkingv1.IngressServiceBackend) (*corev1.Service, *corev1.ServicePort) {
	for i := range v.s.Services {
		svc := &v.s.Services[i]
		if svc.Namespace != ns || svc.Name != b.Name {
			continue
		}
		for j := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[j]
			if b.Port.Name != "" && sp.Name == b.Port.Name || b.Port.Name == "" && sp.Port == b.Port.Number {
				return svc, sp
			}
		}
		return svc, nil
	}
	return nil, nil
}

// ingressController names the controller whose annotations apply.
func ingressController(ing *networkingv1.Ingress) string {
	class := ing.Annotations[IngressClassLegacy]
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	for k := range ing.Annotations {
		if strings.HasPrefix(k, "alb.ingress.kubernetes.io/") {
			return controllerALB
		}
	}
	switch {
	case class == "alb":
		return controllerALB
	case strings.Contains(class, "nginx"):
		return controllerNginx
	}
	for k := range ing.Annotations {
		if strings.HasPrefix(k, "nginx.ingress.kubernetes.io/") {
			return controllerNginx
		}
	}
	return ""
}

func ingressExposure(v *view, ing *networkingv1.Ingress, b *networkingv1.IngressServiceBackend, svc *corev1.Service, sp *corev1.ServicePort) Exposure {
	ctrl := ingressController(ing)
	e := Exposure{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name, Backend: backendName(b), Frontend: WirePlaintext}
	if len(ing.Spec.TLS) > 0 || ctrl == controllerALB && (ing.Annotations[ALBCertificateARN] != "" || strings.Contains(ing.Annotations[ALBListenPorts], "HTTPS")) {
		e.Frontend = WireTLS
	}
	switch ctrl {
	case controllerALB: // HTTP unless HTTPS, on the Ingress or its Service
		bp := ing.Annotations[ALBBackendProtocol]
		if bp == "" && svc != nil {
			bp = svc.Annotations[ALBBackendProtocol]
		}
		e.ToPods = WirePlaintext
		if strings.EqualFold(bp, "HTTPS") {
			e.ToPods = WireTLS
		}
	case controllerNginx: // HTTP unless HTTPS or GRPCS
		e.ToPods = WirePlaintext
		if bp := strings.ToUpper(ing.Annotations[NginxBackendProtocol]); bp == "HTTPS" || bp == "GRPCS" {
			e.ToPods = WireTLS
		}
	default:
		e.ToPods = WireUnknown
		if sp != nil {
			e.ToPods = portWire(*sp)
		}
	}
	if svc != nil && sp != nil {
		e.Meshed = meshedBackend(v, svc, *sp)
	}
	return e
}

func ingressFinding(ing *networkingv1.Ingress, e Exposure) (audit.Finding, bool) {
	ctrl := ingressController(ing)
	subj := audit.Subject{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name, Source: "ingress controller", Dest: e.Backend}
	where := fmt.Sprintf("%s/%s → %s", ing.Namespace, ing.Name, e.Backend)
	ev := []string{"controller: " + orUnknown(ctrl), fmt.Sprintf("TLS at the Ingress: %t", e.Frontend == WireTLS)}
	for _, a := range []string{ALBBackendProtocol, NginxBackendProtocol} {
		if val, ok := ing.Annotations[a]; ok {
			ev = append(ev, fmt.Sprintf("%s: %q", a, val))
		}
	}
	fix := "re-encrypt to the pods (" + ALBBackendProtocol + ": HTTPS, or " + NginxBackendProtocol + ": HTTPS) or mesh both the ingress controller and the backend"
	var f audit.Finding
	switch {
	case e.ToPods == WirePlaintext && e.Frontend == WireTLS:
		f = finding(RuleIngressTLSTerminated, audit.High, where+": TLS ends at the Ingress, plaintext to the pods", subj, audit.InTransit, fix, ev...)
	case e.ToPods == WirePlaintext:
		f = finding(RuleIngressPlaintext, audit.High, where+": plaintext from clients through to the pods", subj, audit.InTransit,
			"add spec.tls to the Ingress, and "+fix, ev...)
	case e.ToPods == WireUnknown:
		f = finding(RuleIngressBackendUnknown, audit.Low, where+": what the backend carries is unknown", subj, audit.InTransit,
			"check it with hopseal audit capture, and name the Service port (appProtocol: https) when it is TLS", ev...)
	default:
		return f, false
	}
	if e.Meshed {
		if ctrl == controllerALB {
			f.Severity = softer(f.Severity)
			f.Evidence = append(f.Evidence, "every backend pod's hopseal proxy refuses plaintext on this port: the ALB's connections fail rather than cross in the clear")
		} else {
			f.Severity = audit.Info
			f.Evidence = append(f.Evidence, "every backend pod's hopseal proxy refuses plaintext on this port: the hop is mTLS from a meshed ingress controller, and fails from any other")
		}
	}
	return f, true
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown (annotations of no known controller)"
	}
	return s
}
