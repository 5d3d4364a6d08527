package webhook

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
)

// NamespaceLabels gives a namespace's labels, which decide injection when
// the pod has no hopseal.io/inject annotation.
type NamespaceLabels interface {
	Labels(ctx context.Context, namespace string) (map[string]string, error)
}

// LabelsFunc adapts a function to NamespaceLabels.
type LabelsFunc func(ctx context.Context, namespace string) (map[string]string, error)

// Labels calls f.
func (f LabelsFunc) Labels(ctx context.Context, namespace string) (map[string]string, error) {
	return f(ctx, namespace)
}

// FromClient reads each namespace from the API server when asked.
func FromClient(c kubernetes.Interface) NamespaceLabels {
	return LabelsFunc(func(ctx context.Context, name string) (map[string]string, error) {
		ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return ns.Labels, nil
	})
}

// FromLister reads namespaces from an informer's cache (the controller's
// choice: no API request per pod).
func FromLister(l corev1listers.NamespaceLister) NamespaceLabels {
	return LabelsFunc(func(_ context.Context, name string) (map[string]string, error) {
		ns, err := l.Get(name)
		if err != nil {
			return nil, err
		}
		return ns.Labels, nil
	})
}
