package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/kube/controller"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/testenv"
)

const td = "cluster.local"

// cluster is the API server, a controller process for it, and a Kubelet.
type cluster struct {
	k       *testenv.Kube
	cs      kubernetes.Interface
	dyn     dynamic.Interface
	net     *testenv.Net
	kubelet *testenv.Kubelet
	ctl     *testenv.Proc
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	testenv.RequireRoot(t)
	k := testenv.KubeAPI(t)
	cs, dyn := k.Clients(t)
	c := &cluster{k: k, cs: cs, dyn: dyn, net: testenv.NewNet(t, testenv.NetConfig{})}
	manifest := k.InstallHopseal(t, "--trust-domain", td)

	// What the cluster's network would do: pods resolve and reach the
	// controller Service, here a process on the bridge's host address.
	c.kubelet = &testenv.Kubelet{
		Kube: k, Net: c.net,
		Images: map[string]string{"hopseal/proxy": testenv.ProxyBinary(t)},
		Hosts:  map[string]string{"hopseal-controller.hopseal-system.svc": c.net.HostIP.String()},
	}
	c.ctl = k.StartController(t, manifest, net.JoinHostPort(c.net.HostIP.String(), "8443"), "--trust-domain", td)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func (c *cluster) namespace(t *testing.T, labels map[string]string) string {
	return c.k.Namespace(t, "e2e-", labels)
}

func (c *cluster) serviceAccount(t *testing.T, ns, name string) {
	t.Helper()
	if _, err := c.cs.CoreV1().ServiceAccounts(ns).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// appPod is a pod with one app container serving HTTP on 8080, and a
// readiness probe the injector must move to the proxy's admin port.
func appPod(ns, name, sa string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{
			Name: "app", Image: "app:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
		}}},
	}
}

// running is a pod the Kubelet runs: init-net done, proxy ready, app up.
type running struct {
	*testenv.KubePod
	proxy *testenv.Proc
}

// run creates the pod through the API server (and so the webhook), then
// runs it: hopseal-init to completion, the hopseal-proxy sidecar until
// ready, and the app, an HTTP server in the pod saying who it is.
func (c *cluster) run(t *testing.T, pod *corev1.Pod) *running {
	t.Helper()
	r := c.prepare(t, pod)
	r.proxy = r.Start(t, "hopseal-proxy")
	r.proxy.WaitLogLines(t, "proxy ready", 1, 30*time.Second)
	return r
}

// prepare does all of run but start the proxy.
func (c *cluster) prepare(t *testing.T, pod *corev1.Pod) *running {
	t.Helper()
	stored, err := c.cs.CoreV1().Pods(pod.Namespace).Create(ctx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	if _, ok := stored.Annotations[inject.AnnotationInjected]; !ok {
		t.Fatalf("pod %s was not injected", pod.Name)
	}
	testenv.Eventually(t, 20*time.Second, "the trust bundle in "+pod.Namespace, func() bool {
		_, err := c.cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx(t), controller.BundleConfigMap, metav1.GetOptions{})
		return err == nil
	})
	kp := c.kubelet.Admit(t, stored)
	if out, err := kp.RunToCompletion(t, "hopseal-init"); err != nil {
		t.Fatalf("hopseal-init of %s: %v\n%s", pod.Name, err, out)
	}
	l := kp.Net.Listen(t, "tcp", "0.0.0.0:8080")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", pod.Name, r.URL.Path)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &running{KubePod: kp}
}

// get asks a pod's app for path on another pod, from inside the pod (so
// through its proxy).
func (r *running) get(to *running, path string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return r.Net.Dial(network, addr, 5*time.Second)
		},
		DisableKeepAlives: true,
	}}
	resp, err := client.Get("http://" + to.Net.Addr(8080) + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(body), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(body), err
}

func spiffe(ns, sa string) string { return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", td, ns, sa) }
