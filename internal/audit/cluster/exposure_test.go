package cluster

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPortWire(t *testing.T) {
	base := func() corev1.ServicePort { return corev1.ServicePort{Port: 5000, TargetPort: intstr.FromInt32(5000)} }
	for _, tc := range []struct {
		name   string
		change func(*corev1.ServicePort)
		want   Wire
	}{
		{"nothing known", func(*corev1.ServicePort) {}, WireUnknown},
		{"appProtocol http", func(p *corev1.ServicePort) { p.AppProtocol = ptr("http") }, WirePlaintext},
		{"appProtocol h2c", func(p *corev1.ServicePort) { p.AppProtocol = ptr("kubernetes.io/h2c") }, WirePlaintext},
		{"appProtocol https", func(p *corev1.ServicePort) { p.AppProtocol = ptr("https") }, WireTLS},
		{"appProtocol beats a plaintext name", func(p *corev1.ServicePort) { p.AppProtocol, p.Name = ptr("https"), "http" }, WireTLS},
		{"name https", func(p *corev1.ServicePort) { p.Name = "https-web" }, WireTLS},
		{"name http", func(p *corev1.ServicePort) { p.Name = "http-web" }, WirePlaintext},
		{"port 80", func(p *corev1.ServicePort) { p.Port = 80 }, WirePlaintext},
		{"target port 8080", func(p *corev1.ServicePort) { p.TargetPort = intstr.FromInt32(8080) }, WirePlaintext},
		{"port 443", func(p *corev1.ServicePort) { p.Port = 443 }, WireTLS},
		{"port 443 to 8080", func(p *corev1.ServicePort) { p.Port, p.TargetPort = 443, intstr.FromInt32(8080) }, WireTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.change(&p)
			if got := portWire(p); got != tc.want {
				t.Errorf("portWire = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSSLPort(t *testing.T) {
	https := corev1.ServicePort{Name: "https", Port: 443}
	for _, tc := range []struct {
		list string
		want bool
	}{{"", true}, {"*", true}, {"443", true}, {"80, 443", true}, {"https", true}, {"8443", false}, {"http", false}} {
		if got := sslPort(tc.list, https); got != tc.want {
			t.Errorf("sslPort(%q) = %t, want %t", tc.list, got, tc.want)
		}
	}
}

func TestIngressController(t *testing.T) {
	for _, tc := range []struct {
		name  string
		class string
		ann   map[string]string
		want  string
	}{
		{"no class", "", nil, ""},
		{"class alb", "alb", nil, controllerALB},
		{"alb annotation", "", map[string]string{ALBBackendProtocol: "HTTPS"}, controllerALB},
		{"class nginx", "nginx", nil, controllerNginx},
		{"class internal-nginx", "internal-nginx", nil, controllerNginx},
		{"legacy class annotation", "", map[string]string{IngressClassLegacy: "nginx"}, controllerNginx},
		{"nginx annotation", "", map[string]string{NginxBackendProtocol: "HTTPS"}, controllerNginx},
		{"another class", "traefik", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Annotations: tc.ann}}
			if tc.class != "" {
				ing.Spec.IngressClassName = &tc.class
			}
			if got := ingressController(ing); got != tc.want {
				t.Errorf("controller %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEveryone(t *testing.T) {
	empty := &metav1.LabelSelector{}
	for _, tc := range []struct {
		name  string
		peers []networkingv1.NetworkPolicyPeer
		all   bool
	}{
		{"no peers", nil, true},
		{"0.0.0.0/0", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}, true},
		{"::/0", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "::/0"}}}, true},
		{"0.0.0.0/0 with except", []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}}}, false},
		{"every namespace", []networkingv1.NetworkPolicyPeer{{NamespaceSelector: empty}}, true},
		{"every pod of every namespace", []networkingv1.NetworkPolicyPeer{{NamespaceSelector: empty, PodSelector: empty}}, true},
		{"some pods of every namespace", []networkingv1.NetworkPolicyPeer{{NamespaceSelector: empty, PodSelector: sel("app", "web")}}, false},
		{"every pod of this namespace", []networkingv1.NetworkPolicyPeer{{PodSelector: empty}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := everyone(tc.peers); (got != "") != tc.all {
				t.Errorf("everyone = %q, want all: %t", got, tc.all)
			}
		})
	}
}

func TestWorkload(t *testing.T) {
	yes := true
	pod := func(hash string, refs ...metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7-abcde", Labels: map[string]string{"pod-template-hash": hash}, OwnerReferences: refs}}
	}
	for _, tc := range []struct {
		name string
		p    *corev1.Pod
		want string
	}{
		{"bare pod", pod(""), "Pod web-5d8f7-abcde"},
		{"Deployment's ReplicaSet", pod("5d8f7", metav1.OwnerReference{Kind: "ReplicaSet", Name: "web-5d8f7", Controller: &yes}), "Deployment web"},
		{"ReplicaSet of its own", pod("", metav1.OwnerReference{Kind: "ReplicaSet", Name: "web-5d8f7", Controller: &yes}), "ReplicaSet web-5d8f7"},
		{"StatefulSet", pod("", metav1.OwnerReference{Kind: "StatefulSet", Name: "db", Controller: &yes}), "StatefulSet db"},
		{"owner that is not the controller", pod("", metav1.OwnerReference{Kind: "StatefulSet", Name: "db"}), "Pod web-5d8f7-abcde"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := workload(tc.p); got != tc.want {
				t.Errorf("workload = %q, want %q", got, tc.want)
			}
		})
	}
}
