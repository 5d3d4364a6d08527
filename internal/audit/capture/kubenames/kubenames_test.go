package kubenames_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/audit/capture/kubenames"
	"github.com/hopseal/hopseal/internal/testenv"
)

func pod(name string, labels map[string]string, owner string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	if owner != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: "0000-1", Controller: &yes}}
	}
	return p
}

func TestWorkloadName(t *testing.T) {
	cases := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"pod name", pod("web-0", nil, ""), "web-0"},
		{"app label", pod("x-1", map[string]string{"app": "orders"}, ""), "orders"},
		{"recommended label first", pod("x-1", map[string]string{"app": "a", "app.kubernetes.io/name": "orders"}, ""), "orders"},
		{"Deployment through its ReplicaSet", pod("orders-7d9f-abcde", map[string]string{"pod-template-hash": "7d9f"}, "orders-7d9f"), "orders"},
		{"ReplicaSet without the hash label", pod("rs-abcde", nil, "rs"), "rs"},
	}
	for _, c := range cases {
		if got := kubenames.WorkloadName(c.pod); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// createPod stores a pod and sets the status a kubelet would report.
func createPod(t *testing.T, cs kubernetes.Interface, ns string, p *corev1.Pod, ips ...string) {
	t.Helper()
	ctx := context.Background()
	got, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Status.Phase = corev1.PodRunning
	for _, ip := range ips {
		got.Status.PodIPs = append(got.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		got.Status.PodIP = ips[0]
	}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFromAPIServer(t *testing.T) {
	k := testenv.NewKubeAPI(t)
	cs, _ := k.Clients(t)
	ns := k.Namespace(t, "capture-", nil)
	createPod(t, cs, ns, pod("orders-7d9f-abcde", map[string]string{"pod-template-hash": "7d9f"}, "orders-7d9f"), "10.244.1.5", "fd00:244::5")
	createPod(t, cs, ns, pod("payments-0", map[string]string{"app": "payments"}, ""), "10.244.1.6")
	host := pod("node-agent", nil, "")
	host.Spec.HostNetwork = true
	createPod(t, cs, ns, host, "192.168.5.10")
	svc, err := cs.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}, Selector: map[string]string{"app": "payments"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names, err := kubenames.Load(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"10.244.1.5": "Pod orders", "fd00:244::5": "Pod orders", "10.244.1.6": "Pod payments",
		svc.Spec.ClusterIP: "Service payments", "192.168.5.10": "",
	}
	for addr, w := range want {
		got, ok := names.Lookup(netip.MustParseAddr(addr))
		if w == "" {
			if ok {
				t.Errorf("%s (a host-network pod's) is named %+v", addr, got)
			}
			continue
		}
		if !ok || got.Kind+" "+got.Name != w || got.Namespace != ns {
			t.Errorf("%s: %+v (found %v), want %s in %s", addr, got, ok, w, ns)
		}
	}
}
