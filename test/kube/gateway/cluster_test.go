package gateway_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/kube/controller"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/testenv"
)

const (
	td        = "cluster.local"
	gatewayNS = "hopseal-gateway" // the chart's gateway.namespace
	gatewayID = "spiffe://" + td + "/ns/" + gatewayNS + "/sa/hopseal-gateway"
)

// cluster is the API server with the Gateway API CRDs, hopseal installed
// with its gateway, a controller process for it and a Kubelet.
type cluster struct {
	k        *testenv.Kube
	cs       kubernetes.Interface
	dyn      dynamic.Interface
	net      *testenv.Net
	kubelet  *testenv.Kubelet
	ctl      *testenv.Proc
	manifest []*unstructured.Unstructured
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "nft")
	k := testenv.KubeAPI(t)
	installGatewayCRDs(t, k)
	cs, dyn := k.Clients(t)
	c := &cluster{k: k, cs: cs, dyn: dyn, net: testenv.NewNet(t, testenv.NetConfig{})}
	c.manifest = k.InstallHopseal(t, "--trust-domain", td, "--set", "gateway.enabled=true")

	// As in test/kube/e2e: the controller is a process on the bridge's
	// host address, which pods' /etc/hosts name as its Service.
	c.kubelet = &testenv.Kubelet{
		Kube: k, Net: c.net,
		Images: map[string]string{"hopseal/proxy": testenv.ProxyBinary(t), "hopseal/hopseal": testenv.Binary(t)},
		Hosts:  map[string]string{"hopseal-controller.hopseal-system.svc": c.net.HostIP.String()},
	}
	var ctlDeploy appsv1.Deployment
	c.decode(t, "Deployment", "hopseal-controller", &ctlDeploy)
	if !slices.Contains(ctlDeploy.Spec.Template.Spec.Containers[0].Args, "--gateway-api") {
		t.Fatal("the chart's controller does not run with --gateway-api")
	}
	c.ctl = k.StartController(t, c.manifest, net.JoinHostPort(c.net.HostIP.String(), "8443"), "--trust-domain", td, "--gateway-api")
	c.ctl.WaitLogLines(t, "following Gateway API resources", 1, 60*time.Second)
	return c
}

// decode finds one object of the installed manifest.
func (c *cluster) decode(t *testing.T, kind, name string, out any) {
	t.Helper()
	for _, o := range c.manifest {
		if o.GetKind() == kind && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("hopseal install printed no %s %s", kind, name)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// app is a meshed pod running: its proxy, and its app's listener on port.
type app struct {
	*testenv.KubePod
	proxy *testenv.Proc
}

// runApp creates a pod with one app container on port (through the
// webhook, so injected), runs hopseal-init, the app (serve gets its
// listener) and the proxy until ready.
func (c *cluster) runApp(t *testing.T, ns, name, sa string, port int32, serve func(net.Listener)) *app {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{
			Name: "app", Image: "app:1", Ports: []corev1.ContainerPort{{ContainerPort: port}},
		}}},
	}
	stored, err := c.cs.CoreV1().Pods(ns).Create(ctx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	if _, ok := stored.Annotations[inject.AnnotationInjected]; !ok {
		t.Fatalf("pod %s was not injected", name)
	}
	c.waitBundle(t, ns)
	kp := c.kubelet.Admit(t, stored)
	if out, err := kp.RunToCompletion(t, "hopseal-init"); err != nil {
		t.Fatalf("hopseal-init of %s: %v\n%s", name, err, out)
	}
	go serve(kp.Net.Listen(t, "tcp", fmt.Sprintf("0.0.0.0:%d", port)))
	a := &app{KubePod: kp, proxy: kp.Start(t, "hopseal-proxy")}
	a.proxy.WaitLogLines(t, "proxy ready", 1, 30*time.Second)
	return a
}

func (c *cluster) waitBundle(t *testing.T, ns string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "the trust bundle in "+ns, func() bool {
		_, err := c.cs.CoreV1().ConfigMaps(ns).Get(ctx(t), controller.BundleConfigMap, metav1.GetOptions{})
		return err == nil
	})
}

// service creates a Service of port over a's targetPort with the
// EndpointSlice the endpoint slice controller would write; it returns the
// cluster IP.
func (c *cluster) service(t *testing.T, ns, name string, port, target int32, a *app) string {
	t.Helper()
	svc, err := c.cs.CoreV1().Services(ns).Create(ctx(t), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": a.Pod.Name},
			Ports: []corev1.ServicePort{{Port: port, TargetPort: intstr.FromInt32(target), Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready, proto := true, corev1.ProtocolTCP
	_, err = c.cs.DiscoveryV1().EndpointSlices(ns).Create(ctx(t), &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{a.Net.IP.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: a.Pod.Name}}},
		Ports: []discoveryv1.EndpointPort{{Port: &target, Protocol: &proto}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.ClusterIP
}

// runGatewayPod runs the chart's gateway pod: created from the Deployment's
// template, its sysctls set and kube-proxy's rules for the Services
// (cluster IP:port → pod IP:port) installed in its network namespace, as
// the kubelet and kube-proxy would, then its container.
func (c *cluster) runGatewayPod(t *testing.T, services map[string]string) (*testenv.KubePod, *testenv.Proc) {
	t.Helper()
	var d appsv1.Deployment
	c.decode(t, "Deployment", "hopseal-gateway", &d)
	pod := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
	pod.GenerateName, pod.Namespace = "gw-", gatewayNS
	stored, err := c.cs.CoreV1().Pods(gatewayNS).Create(ctx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, injected := stored.Annotations[inject.AnnotationInjected]; injected {
		t.Fatal("the gateway pod was injected")
	}
	c.waitBundle(t, gatewayNS)
	kp := c.kubelet.Admit(t, stored)
	var script []string
	for _, s := range stored.Spec.SecurityContext.Sysctls {
		script = append(script, fmt.Sprintf("echo %s > /proc/sys/%s", s.Value, strings.ReplaceAll(s.Name, ".", "/")))
	}
	if out, err := kp.Net.Run(t, "sh", "-c", strings.Join(script, " && ")); err != nil {
		t.Fatalf("sysctls: %v\n%s", err, out)
	}
	rules := "table ip kube-proxy {\n chain output {\n  type nat hook output priority -100; policy accept;\n"
	for from, to := range services {
		host, port, _ := net.SplitHostPort(from)
		rules += fmt.Sprintf("  ip daddr %s tcp dport %s dnat to %s\n", host, port, to)
	}
	file := filepath.Join(t.TempDir(), "kube-proxy.nft")
	if err := os.WriteFile(file, []byte(rules+" }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kp.Net.Run(t, "nft", "-f", file); err != nil {
		t.Fatalf("kube-proxy rules: %v\n%s", err, out)
	}
	return kp, kp.Start(t, "gateway")
}
