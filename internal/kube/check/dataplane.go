package check

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hopseal/hopseal/internal/kube/inject"
)

var mtlsGVR = schema.GroupVersionResource{Group: "hopseal.io", Version: "v1alpha1", Resource: "mtlspolicies"}

// maxListed caps the names a message lists.
const maxListed = 10

var dataPlaneCategory = category{name: "hopseal-data-plane", checks: fixed(
	check{desc: "namespaces with injection", run: injectedNamespacesCheck},
	check{desc: "trust bundle is in every namespace with injection", run: bundlesCheck},
	check{desc: "pods that want the proxy have it", run: sidecarsCheck},
	check{desc: "workloads in permissive mode", run: permissiveCheck},
)}

func injectedNamespaces(ctx context.Context, e *Env) ([]corev1.Namespace, error) {
	l, err := e.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: inject.LabelInject + "=" + inject.Enabled})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

func injectedNamespacesCheck(ctx context.Context, e *Env) outcome {
	nss, err := injectedNamespaces(ctx, e)
	if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	if len(nss) == 0 {
		return warn("label the namespaces to mesh: kubectl label namespace NAME "+inject.LabelInject+"="+inject.Enabled,
			"no namespace is labelled %s=%s", inject.LabelInject, inject.Enabled)
	}
	names := make([]string, len(nss))
	for i, ns := range nss {
		names[i] = ns.Name
	}
	return ok("%s", list(names))
}

// bundlesCheck wants each injected namespace's copy of the trust bundle to
// exist (injected pods mount it) and to match the control plane's.
func bundlesCheck(ctx context.Context, e *Env) outcome {
	nss, err := injectedNamespaces(ctx, e)
	if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	if len(nss) == 0 {
		return ok("no namespace with injection")
	}
	// The control plane's own copy is the reference; when it is missing
	// (hopseal-identity says so) only the copies' presence is checked.
	cms := e.Client.CoreV1().ConfigMaps
	src, err := cms(Namespace).Get(ctx, inject.BundleConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		src = nil
	} else if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	var missing, stale []string
	for _, ns := range nss {
		cm, err := cms(ns.Name).Get(ctx, inject.BundleConfigMap, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, ns.Name)
		case err != nil:
			return fail(kubeconfigHint, "%v", err)
		case src != nil && cm.Data[BundleKey] != src.Data[BundleKey]:
			stale = append(stale, ns.Name)
		}
	}
	switch {
	case len(missing) > 0:
		return fail("injected pods of these namespaces cannot start without it; "+leaderHint,
			"ConfigMap %s missing in %s", inject.BundleConfigMap, list(missing))
	case len(stale) > 0:
		return warn("the controller copies the bundle on every change; if this lasts, "+logsHint,
			"ConfigMap %s differs from %s's in %s", inject.BundleConfigMap, Namespace, list(stale))
	}
	return ok("")
}

// sidecarsCheck lists pods that should have the proxy and do not: most
// often pods created before their namespace was labelled, or pods that
// opted in by annotation while the webhook was down (it fails open outside
// labelled namespaces).
func sidecarsCheck(ctx context.Context, e *Env) outcome {
	nss, err := e.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	labels := map[string]map[string]string{}
	for _, ns := range nss.Items {
		labels[ns.Name] = ns.Labels
	}
	pods, err := e.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	var bare []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Namespace != Namespace && p.Namespace != "kube-system" && missingProxy(labels[p.Namespace], p) {
			bare = append(bare, p.Namespace+"/"+p.Name)
		}
	}
	if len(bare) > 0 {
		return fail("their traffic is not encrypted; restart their workloads to inject them, e.g. kubectl -n NAMESPACE rollout restart deployment NAME",
			"%d without the proxy: %s", len(bare), list(bare))
	}
	return ok("")
}

// missingProxy: a running pod that hopseal would inject but was not. Pods
// that opted out, use the host's network or have finished are fine.
func missingProxy(nsLabels map[string]string, p *corev1.Pod) bool {
	if p.Spec.HostNetwork || p.DeletionTimestamp != nil ||
		p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if want, _, err := inject.Wanted(nsLabels, p.Annotations); err != nil || !want {
		return false
	}
	if _, ok := p.Annotations[inject.AnnotationInjected]; ok {
		return false
	}
	return !slices.ContainsFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == inject.ProxyName })
}

// permissiveCheck lists MTLSPolicies in permissive mode: their workloads
// accept plaintext.
func permissiveCheck(ctx context.Context, e *Env) outcome {
	l, err := e.Dynamic.Resource(mtlsGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fail(kubeconfigHint, "list MTLSPolicies: %v", err)
	}
	var permissive []string
	for _, p := range l.Items {
		if mode, _, _ := unstructured.NestedString(p.Object, "spec", "mode"); mode == "permissive" {
			permissive = append(permissive, fmt.Sprintf("%s/%s (%s)", p.GetNamespace(), p.GetName(), selected(&p)))
		}
	}
	if len(permissive) > 0 {
		return warn("these workloads accept plaintext besides mTLS; set mode: strict (or delete the policy) once all their clients are in the mesh",
			"%d MTLSPolicies: %s", len(permissive), list(permissive))
	}
	return ok("none: every workload is strict")
}

// selected says which workloads a policy selects.
func selected(p *unstructured.Unstructured) string {
	sel, found, _ := unstructured.NestedMap(p.Object, "spec", "selector")
	if !found {
		return "every workload of the namespace"
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel, &ls); err != nil {
		return "selector unreadable: " + err.Error()
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil || s.Empty() {
		return "every workload of the namespace"
	}
	return "pods " + s.String()
}

// list joins names, at most maxListed of them.
func list(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}
