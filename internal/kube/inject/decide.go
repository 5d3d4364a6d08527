package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Wanted reports whether a pod with these annotations, in a namespace with
// these labels, asks for injection, and why. The pod annotation wins; a value
// other than enabled or disabled is an *AnnotationError.
func Wanted(namespaceLabels, podAnnotations map[string]string) (bool, string, error) {
	if v, ok := podAnnotations[AnnotationInject]; ok {
		switch v {
		case Enabled:
			return true, "pod annotation " + AnnotationInject + " is enabled", nil
		case Disabled:
			return false, "pod annotation " + AnnotationInject + " is disabled", nil
		}
		return false, "", &AnnotationError{Annotation: AnnotationInject, Value: v, Problem: "is not enabled or disabled"}
	}
	if namespaceLabels[LabelInject] == Enabled {
		return true, "namespace label " + LabelInject + "=" + Enabled, nil
	}
	return false, fmt.Sprintf("the namespace is not labelled %s=%s (label it, or annotate the pod %s: %s)",
		LabelInject, Enabled, AnnotationInject, Enabled), nil
}

// leftAlone says why a pod template must not be injected, or "", and
// whether that is because it already was.
func leftAlone(t *corev1.PodTemplateSpec) (string, bool) {
	if v, ok := t.Annotations[AnnotationInjected]; ok {
		return fmt.Sprintf("already injected (annotation %s: %q)", AnnotationInjected, v), true
	}
	for _, c := range allContainers(&t.Spec) {
		if c.Name == InitName || c.Name == ProxyName {
			return fmt.Sprintf("already injected (it has a container named %s)", c.Name), true
		}
	}
	if t.Annotations[AnnotationInject] == Disabled {
		return "pod annotation " + AnnotationInject + " is disabled", false
	}
	if t.Spec.HostNetwork {
		return "hostNetwork: the pod shares the node's network namespace, where interception rules would capture the node's own traffic", false
	}
	if t.Spec.OS != nil && !strings.EqualFold(string(t.Spec.OS.Name), string(corev1.Linux)) {
		return fmt.Sprintf("spec.os.name is %s: interception needs Linux", t.Spec.OS.Name), false
	}
	return "", false
}

func allContainers(s *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range s.InitContainers {
		out = append(out, &s.InitContainers[i])
	}
	for i := range s.Containers {
		out = append(out, &s.Containers[i])
	}
	return out
}
