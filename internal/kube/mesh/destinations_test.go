package mesh

import (
	"strconv"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

var td = spiffeid.RequireTrustDomainFromString("cluster.test")

func pod(name, sa, ip string, change ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: map[string]string{inject.AnnotationInjected: "v1"}},
		Spec:       corev1.PodSpec{ServiceAccountName: sa},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	for _, c := range change {
		c(p)
	}
	return p
}

func service(name string, change ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	for _, c := range change {
		c(s)
	}
	return s
}

func slice(svc string, pods ...string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc + "-x", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: svc}}}
	for _, p := range pods {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"1.1.1.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: p}})
	}
	return es
}

// render writes destinations as "address=ids[;plain]" lines, sorted.
func render(ds []*meshv1.Destination) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Address + "=" + strings.Join(d.SpiffeIds, ","))
		for _, p := range d.PlaintextPorts {
			b.WriteString(";" + strconv.Itoa(int(p)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestDestinations(t *testing.T) {
	web := "spiffe://cluster.test/ns/shop/sa/web"
	api := "spiffe://cluster.test/ns/shop/sa/api"
	base := func() ([]*corev1.Pod, []*corev1.Service, []*discoveryv1.EndpointSlice) {
		return []*corev1.Pod{pod("web-1", "web", "10.89.0.1"), pod("api-1", "api", "10.89.0.2")},
			[]*corev1.Service{service("web")},
			[]*discoveryv1.EndpointSlice{slice("web", "web-1", "api-1")}
	}
	for _, tt := range []struct {
		name   string
		change func(*[]*corev1.Pod, *[]*corev1.Service, *[]*discoveryv1.EndpointSlice)
		want   string
	}{
		{"baseline", func(*[]*corev1.Pod, *[]*corev1.Service, *[]*discoveryv1.EndpointSlice) {},
			"10.89.0.1=" + web + ";14090\n10.89.0.2=" + api + ";14090\n10.96.0.10:80=" + api + "," + web + "\n"},
		{"pod not injected: out, and so its Service", func(p *[]*corev1.Pod, _ *[]*corev1.Service, _ *[]*discoveryv1.EndpointSlice) {
			delete((*p)[1].Annotations, inject.AnnotationInjected)
		}, "10.89.0.1=" + web + ";14090\n"},
		{"hostNetwork pod", func(p *[]*corev1.Pod, _ *[]*corev1.Service, _ *[]*discoveryv1.EndpointSlice) {
			(*p)[1].Spec.HostNetwork = true
		}, "10.89.0.1=" + web + ";14090\n"},
		{"finished pod", func(p *[]*corev1.Pod, _ *[]*corev1.Service, _ *[]*discoveryv1.EndpointSlice) {
			(*p)[1].Status.Phase = corev1.PodSucceeded
		}, "10.89.0.1=" + web + ";14090\n"},
		{"excluded inbound ports", func(p *[]*corev1.Pod, _ *[]*corev1.Service, _ *[]*discoveryv1.EndpointSlice) {
			(*p)[0].Annotations[inject.AnnotationExcludeInboundPorts] = "22,9000"
		}, "10.89.0.1=" + web + ";22;9000;14090\n10.89.0.2=" + api + ";14090\n10.96.0.10:80=" + api + "," + web + "\n"},
		{"terminating endpoint of an unmeshed pod is ignored", func(p *[]*corev1.Pod, _ *[]*corev1.Service, s *[]*discoveryv1.EndpointSlice) {
			term := true
			(*s)[0].Endpoints = append((*s)[0].Endpoints, discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Terminating: &term},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "gone"}})
		}, "10.89.0.1=" + web + ";14090\n10.89.0.2=" + api + ";14090\n10.96.0.10:80=" + api + "," + web + "\n"},
		{"endpoint that is not a pod", func(_ *[]*corev1.Pod, _ *[]*corev1.Service, s *[]*discoveryv1.EndpointSlice) {
			(*s)[0].Endpoints = append((*s)[0].Endpoints, discoveryv1.Endpoint{Addresses: []string{"192.0.2.1"}})
		}, "10.89.0.1=" + web + ";14090\n10.89.0.2=" + api + ";14090\n"},
		{"headless service", func(_ *[]*corev1.Pod, s *[]*corev1.Service, _ *[]*discoveryv1.EndpointSlice) {
			(*s)[0].Spec.ClusterIP, (*s)[0].Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, "10.89.0.1=" + web + ";14090\n10.89.0.2=" + api + ";14090\n"},
		{"UDP port skipped, dual stack", func(_ *[]*corev1.Pod, s *[]*corev1.Service, _ *[]*discoveryv1.EndpointSlice) {
			(*s)[0].Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
			(*s)[0].Spec.Ports = append((*s)[0].Spec.Ports, corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP})
		}, "10.89.0.1=" + web + ";14090\n10.89.0.2=" + api + ";14090\n10.96.0.10:80=" + api + "," + web + "\n[fd00::10]:80=" + api + "," + web + "\n"},
		{"slice of another service", func(_ *[]*corev1.Pod, _ *[]*corev1.Service, s *[]*discoveryv1.EndpointSlice) {
			(*s)[0].Labels[discoveryv1.LabelServiceName] = "other"
		}, "10.89.0.1=" + web + ";14090\n10.89.0.2=" + api + ";14090\n"},
		{"stale pod sharing an IP: both identities", func(p *[]*corev1.Pod, _ *[]*corev1.Service, _ *[]*discoveryv1.EndpointSlice) {
			*p = append(*p, pod("old", "old", "10.89.0.1"))
		}, "10.89.0.1=spiffe://cluster.test/ns/shop/sa/old," + web + ";14090\n10.89.0.2=" + api + ";14090\n10.96.0.10:80=" + api + "," + web + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, s, e := base()
			tt.change(&p, &s, &e)
			if got := render(Destinations(td, p, s, e)); got != tt.want {
				t.Errorf("got\n%swant\n%s", got, tt.want)
			}
		})
	}
}
