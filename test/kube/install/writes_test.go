package install_test

import (
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// setBundle writes the trust bundle of ns as hopseal's controller would.
func setBundle(t *testing.T, c *cluster, ns string, pem []byte) {
	t.Helper()
	applyTyped(t, c, &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "hopseal-trust-bundle", Namespace: ns},
		Data:       map[string]string{"bundle.pem": string(pem)},
	})
}

// addEndpoint does what the EndpointSlice controller would for a ready
// controller pod.
func addEndpoint(t *testing.T, c *cluster) {
	t.Helper()
	ready := true
	applyTyped(t, c, &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Name: "hopseal-controller-x", Namespace: "hopseal-system",
			Labels: map[string]string{"kubernetes.io/service-name": "hopseal-controller"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("webhook"), Port: ptr(int32(9443))}},
	})
}

// setReady writes the Deployment's status as the deployment controller
// would with n pods ready.
func setReady(t *testing.T, c *cluster, n int32) {
	t.Helper()
	deps := c.cs.AppsV1().Deployments("hopseal-system")
	d, err := deps.Get(ctx(t), "hopseal-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.ObservedGeneration = d.Generation
	d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 2, 2, n, n
	if _, err := deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func addPod(t *testing.T, c *cluster, ns, name string, annotations map[string]string) {
	t.Helper()
	_, err := c.cs.CoreV1().Pods(ns).Create(ctx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func label(t *testing.T, c *cluster, ns, inject string) {
	t.Helper()
	n, err := c.cs.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels["hopseal.io/inject"] = inject
	if _, err := c.cs.CoreV1().Namespaces().Update(ctx(t), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func addMTLSPolicy(t *testing.T, c *cluster, ns, name, mode string, selector map[string]any) {
	t.Helper()
	spec := map[string]any{"mode": mode}
	if selector != nil {
		spec["selector"] = selector
	}
	p := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "hopseal.io/v1alpha1", "kind": "MTLSPolicy",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec,
	}}
	if _, err := c.dyn.Resource(mtlsGVR).Namespace(ns).Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// accepted: the MTLSPolicy's Accepted condition is True.
func accepted(t *testing.T, c *cluster, ns, name string) bool {
	p, err := c.dyn.Resource(mtlsGVR).Namespace(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
	return slices.ContainsFunc(conds, func(x any) bool {
		m, _ := x.(map[string]any)
		return m["type"] == "Accepted" && m["status"] == "True"
	})
}

func ptr[T any](v T) *T { return &v }

// applyTyped applies obj server-side under the controller's field manager,
// as the controller (or a kubelet) would write it.
func applyTyped(t *testing.T, c *cluster, obj runtime.Object) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	data, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.resource(t, u).Patch(ctx(t), u.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "hopseal-controller", Force: ptr(true)})
	if err != nil {
		t.Fatalf("apply %s: %v", name(u), err)
	}
}
