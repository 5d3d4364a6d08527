package check

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/hopseal/hopseal/internal/kube/inject"
)

// What other reports of the cluster (hopseal audit cluster) decide exactly
// as hopseal check does.

// MissingProxy reports whether p is a running pod that hopseal would inject
// but did not, as the check "pods that want the proxy have it" decides.
func MissingProxy(namespaceLabels map[string]string, p *corev1.Pod) bool {
	return missingProxy(namespaceLabels, p)
}

// HasProxy reports whether p carries hopseal's sidecar: the injection
// annotation or a container named hopseal-proxy.
func HasProxy(p *corev1.Pod) bool {
	if _, ok := p.Annotations[inject.AnnotationInjected]; ok {
		return true
	}
	return slices.ContainsFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == inject.ProxyName })
}

// ControllerFlag is the value of a flag (e.g. "--svid-ttl") in the args of
// the controller Deployment's containers, written --flag=value or --flag
// value; "" when no container sets it.
func ControllerFlag(d *appsv1.Deployment, flag string) string {
	if d == nil {
		return ""
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for i, a := range c.Args {
			if v, found := strings.CutPrefix(a, flag+"="); found {
				return v
			}
			if a == flag && i+1 < len(c.Args) {
				return c.Args[i+1]
			}
		}
	}
	return ""
}
