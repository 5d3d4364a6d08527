package cluster

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hopseal/hopseal/internal/audit"
)

// Annotations of the load balancer controllers the scan reads.
const (
	AWSBackendProtocol   = "service.beta.kubernetes.io/aws-load-balancer-backend-protocol"
	AWSSSLCert           = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
	AWSSSLPorts          = "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"
	ALBBackendProtocol   = "alb.ingress.kubernetes.io/backend-protocol"
	ALBCertificateARN    = "alb.ingress.kubernetes.io/certificate-arn"
	ALBListenPorts       = "alb.ingress.kubernetes.io/listen-ports"
	NginxBackendProtocol = "nginx.ingress.kubernetes.io/backend-protocol"
	IngressClassLegacy   = "kubernetes.io/ingress.class"
)

// Rules of the load balancer and Ingress checks.
const (
	RuleLBTLSTerminated       = "cluster/lb-tls-terminated"
	RuleLBPlaintext           = "cluster/lb-plaintext"
	RuleLBBackendUnknown      = "cluster/lb-backend-unknown"
	RuleIngressTLSTerminated  = "cluster/ingress-tls-terminated"
	RuleIngressPlaintext      = "cluster/ingress-plaintext"
	RuleIngressBackendUnknown = "cluster/ingress-backend-unknown"
)

// Wire is what a hop carries, as far as configuration tells.
type Wire string

const (
	WireTLS       Wire = "tls"
	WirePlaintext Wire = "plaintext"
	WireUnknown   Wire = "unknown"
)

// Exposure is one way into the cluster: a load balancer's port or an
// Ingress backend, and what each side of it carries.
type Exposure struct {
	Kind      string `json:"kind"` // Service or Ingress
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Backend   string `json:"backend"`  // service:port
	Frontend  Wire   `json:"frontend"` // clients → load balancer
	ToPods    Wire   `json:"to_pods"`  // load balancer → pods
	// Meshed: every backend pod's proxy refuses plaintext on the port.
	Meshed bool `json:"meshed"`
}

// Well-known ports, for backends no annotation describes.
var (
	plainPorts = []int32{80, 8000, 8008, 8080, 8888}
	tlsPorts   = []int32{443, 8443, 9443}
)

// portWire guesses what a Service port carries from its appProtocol, name
// and numbers.
func portWire(sp corev1.ServicePort) Wire {
	ap := strings.ToLower(ptrOr(sp.AppProtocol, ""))
	name := strings.ToLower(sp.Name)
	switch {
	case slices.Contains([]string{"https", "tls", "grpcs", "kubernetes.io/wss"}, ap):
		return WireTLS
	case slices.Contains([]string{"http", "http2", "h2c", "kubernetes.io/h2c", "kubernetes.io/ws"}, ap):
		return WirePlaintext
	case hasAnyPrefix(name, "https", "tls", "grpcs"):
		return WireTLS
	case hasAnyPrefix(name, "http", "h2c"):
		return WirePlaintext
	case slices.Contains(tlsPorts, sp.Port) || slices.Contains(tlsPorts, sp.TargetPort.IntVal):
		return WireTLS
	case slices.Contains(plainPorts, sp.Port) || slices.Contains(plainPorts, sp.TargetPort.IntVal):
		return WirePlaintext
	}
	return WireUnknown
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// loadBalancers checks the ports of LoadBalancer Services.
func loadBalancers(v *view) ([]audit.Finding, []Exposure) {
	var out []audit.Finding
	var exp []Exposure
	for i := range v.s.Services {
		svc := &v.s.Services[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				continue
			}
			e := lbExposure(v, svc, sp)
			exp = append(exp, e)
			if f, ok := lbFinding(svc, sp, e); ok {
				out = append(out, f)
			}
		}
	}
	return out, exp
}

func lbExposure(v *view, svc *corev1.Service, sp corev1.ServicePort) Exposure {
	ann := svc.Annotations
	e := Exposure{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Backend: fmt.Sprintf("%s:%d", svc.Name, sp.Port),
		Frontend: WireUnknown, Meshed: meshedBackend(v, svc, sp)}
	bp := strings.ToLower(ann[AWSBackendProtocol])
	terminated := ann[AWSSSLCert] != "" && sslPort(ann[AWSSSLPorts], sp)
	switch {
	case bp == "https" || bp == "ssl" || bp == "tls":
		e.ToPods = WireTLS
		if terminated {
			e.Frontend = WireTLS
		}
	case terminated: // an SSL or HTTPS listener decrypts and sends TCP or HTTP on
		e.Frontend, e.ToPods = WireTLS, WirePlaintext
	case bp == "http":
		e.Frontend, e.ToPods = WirePlaintext, WirePlaintext
	default: // TCP: whatever the client sends goes through
		e.ToPods = portWire(sp)
		e.Frontend = e.ToPods
	}
	return e
}

// sslPort: the port is in the ssl-ports annotation ("*" or absent: all).
func sslPort(list string, sp corev1.ServicePort) bool {
	if strings.TrimSpace(list) == "" {
		return true
	}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "*" || p == sp.Name || p == strconv.Itoa(int(sp.Port)) {
			return true
		}
	}
	return false
}

func lbFinding(svc *corev1.Service, sp corev1.ServicePort, e Exposure) (audit.Finding, bool) {
	subj := audit.Subject{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Source: "load balancer", Dest: e.Backend}
	ann := lbAnnotations(svc)
	var f audit.Finding
	switch {
	case e.ToPods == WirePlaintext && e.Frontend == WireTLS:
		f = finding(RuleLBTLSTerminated, audit.High, fmt.Sprintf("%s/%s port %d: TLS ends at the load balancer, plaintext to the pods", svc.Namespace, svc.Name, sp.Port),
			subj, audit.InTransit, "re-encrypt to the pods: set "+AWSBackendProtocol+" to ssl (or https) and serve TLS there, for example from a hopseal gateway", ann)
	case e.ToPods == WirePlaintext:
		f = finding(RuleLBPlaintext, audit.High, fmt.Sprintf("%s/%s port %d: plaintext from clients through to the pods", svc.Namespace, svc.Name, sp.Port),
			subj, audit.InTransit, "serve TLS: terminate it at a hopseal gateway behind a TCP load balancer, or set "+AWSSSLCert+" and "+AWSBackendProtocol+": ssl", ann,
			fmt.Sprintf("port %d (name %q, appProtocol %q) carries plaintext", sp.Port, sp.Name, ptrOr(sp.AppProtocol, "")))
	case e.ToPods == WireUnknown:
		f = finding(RuleLBBackendUnknown, audit.Low, fmt.Sprintf("%s/%s port %d: the load balancer passes TCP through; the pods' protocol is unknown", svc.Namespace, svc.Name, sp.Port),
			subj, audit.InTransit, "check what the port carries (hopseal audit capture), and name it (appProtocol: https) when it is TLS", ann)
	default:
		return f, false
	}
	if e.Meshed {
		f.Severity = softer(f.Severity)
		f.Evidence = append(f.Evidence, "every backend pod's hopseal proxy refuses plaintext on this port (strict mode): connections from the load balancer fail rather than cross in the clear")
	}
	return f, true
}

// lbAnnotations quotes the load balancer annotations the decision read.
func lbAnnotations(svc *corev1.Service) string {
	var s []string
	for _, a := range []string{AWSBackendProtocol, AWSSSLCert, AWSSSLPorts} {
		if v, ok := svc.Annotations[a]; ok {
			s = append(s, fmt.Sprintf("%s: %q", a, v))
		}
	}
	if len(s) == 0 {
		return "no " + AWSBackendProtocol + " or " + AWSSSLCert + " annotation: the load balancer passes TCP through"
	}
	return strings.Join(s, ", ")
}

// softer is the severity of a plaintext hop that hopseal refuses.
func softer(s audit.Severity) audit.Severity {
	if s >= audit.High {
		return audit.Medium
	}
	return audit.Info
}

// backendPods are the active pods a Service selects; none for a Service
// without a selector (its endpoints are managed by hand).
func backendPods(v *view, svc *corev1.Service) []*corev1.Pod {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []*corev1.Pod
	for _, p := range v.podsIn(svc.Namespace) {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// meshedBackend: the Service has pods, and each one's proxy refuses
// plaintext on the port the Service targets.
func meshedBackend(v *view, svc *corev1.Service, sp corev1.ServicePort) bool {
	pods := backendPods(v, svc)
	for _, p := range pods {
		port, ok := targetPort(p, sp)
		if !ok || !v.mesh[p].protects(port) {
			return false
		}
	}
	return len(pods) > 0
}

// targetPort resolves a Service port's targetPort on a pod.
func targetPort(p *corev1.Pod, sp corev1.ServicePort) (int32, bool) {
	switch {
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPort.StrVal {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	case sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal, true
	}
	return sp.Port, true
}
