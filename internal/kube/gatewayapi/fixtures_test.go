package gatewayapi

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testpki"
)

const (
	webID = "spiffe://cluster.test/ns/shop/sa/web"
	apiID = "spiffe://cluster.test/ns/shop/sa/api"
	payID = "spiffe://cluster.test/ns/pay/sa/pay"
)

func ptr[T any](v T) *T { return &v }

// tlsSecret is a kubernetes.io/tls Secret for names, valid from nb to na.
func tlsSecret(t *testing.T, ns, name string, nb, na time.Time, names ...string) *corev1.Secret {
	t.Helper()
	ca := testpki.New(t, "public.test")
	tmpl := ca.Leaf("spiffe://public.test/unused")
	tmpl.URIs, tmpl.DNSNames, tmpl.ExtKeyUsage = nil, names, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.NotBefore, tmpl.NotAfter = nb, na
	chain, key := ca.Sign(tmpl)
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": pki.EncodeCerts(chain...), "tls.key": keyPEM}}
}

func service(ns, name, ip string, port int32, appProtocol string) *corev1.Service {
	p := corev1.ServicePort{Port: port, Protocol: corev1.ProtocolTCP}
	if appProtocol != "" {
		p.AppProtocol = &appProtocol
	}
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip}, Ports: []corev1.ServicePort{p}}}
}

func listener(name string, port int32, proto gwv1.ProtocolType, host string) gwv1.Listener {
	l := gwv1.Listener{Name: gwv1.SectionName(name), Port: port, Protocol: proto,
		AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromAll)}}}
	if host != "" {
		l.Hostname = ptr(gwv1.Hostname(host))
	}
	return l
}

func parent(section string) gwv1.ParentReference {
	p := gwv1.ParentReference{Namespace: ptr(gwv1.Namespace("edge")), Name: "gw"}
	if section != "" {
		p.SectionName = ptr(gwv1.SectionName(section))
	}
	return p
}

func backendRef(name string, port int32) gwv1.BackendRef {
	return gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr(port)}}
}

func prefixRule(prefix, svc string, port int32) gwv1.HTTPRouteRule {
	return gwv1.HTTPRouteRule{
		Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr(prefix)}}},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: backendRef(svc, port)}},
	}
}

func objectMeta(ns, name string, age time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 3, CreationTimestamp: metav1.NewTime(time.Unix(1_700_000_000, 0).Add(-age))}
}

// baseline is a valid Gateway in namespace edge: HTTPS (shop.example.com)
// and TLS passthrough (pay.example.com) on 443, HTTP on 80; an HTTPRoute
// in shop for / and /api, a TLSRoute in pay and a redirect HTTPRoute; all
// Services meshed.
func baseline(t *testing.T) *Input {
	now := time.Now()
	https := listener("https", 443, gwv1.HTTPSProtocolType, "shop.example.com")
	https.TLS = &gwv1.ListenerTLSConfig{Mode: ptr(gwv1.TLSModeTerminate), CertificateRefs: []gwv1.SecretObjectReference{{Name: "shop-tls"}}}
	tlsL := listener("tls", 443, gwv1.TLSProtocolType, "pay.example.com")
	tlsL.TLS = &gwv1.ListenerTLSConfig{Mode: ptr(gwv1.TLSModePassthrough)}
	gw := &gwv1.Gateway{ObjectMeta: objectMeta("edge", "gw", 0),
		Spec: gwv1.GatewaySpec{GatewayClassName: "hopseal", Listeners: []gwv1.Listener{https, tlsL, listener("http", 80, gwv1.HTTPProtocolType, "")}}}
	shop := &gwv1.HTTPRoute{ObjectMeta: objectMeta("shop", "shop", time.Hour), Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent("https")}},
		Hostnames:       []gwv1.Hostname{"shop.example.com"},
		Rules:           []gwv1.HTTPRouteRule{prefixRule("/", "web", 80), prefixRule("/api/", "api", 9090)},
	}}
	redirect := &gwv1.HTTPRoute{ObjectMeta: objectMeta("edge", "to-https", time.Hour), Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent("http")}},
		Rules: []gwv1.HTTPRouteRule{{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
			RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Scheme: ptr("https")}}}}},
	}}
	pay := &gwv1.TLSRoute{ObjectMeta: objectMeta("pay", "pay", time.Hour), Spec: gwv1.TLSRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent("tls")}},
		Hostnames:       []gwv1.Hostname{"pay.example.com"},
		Rules:           []gwv1.TLSRouteRule{{BackendRefs: []gwv1.BackendRef{backendRef("pay", 8443)}}},
	}}
	svcs := []*corev1.Service{service("shop", "web", "10.96.0.1", 80, ""), service("shop", "api", "10.96.0.2", 9090, "kubernetes.io/h2c"),
		service("pay", "pay", "10.96.0.3", 8443, "")}
	in := &Input{
		Gateway: gw, HTTPRoutes: []*gwv1.HTTPRoute{shop, redirect}, TLSRoutes: []*gwv1.TLSRoute{pay},
		Namespaces: map[string]map[string]string{"edge": {"team": "edge"}, "shop": {"team": "shop"}, "pay": {"team": "pay"}},
		Services:   map[types.NamespacedName]*corev1.Service{},
		Destinations: []*meshv1.Destination{{Address: "10.96.0.1:80", SpiffeIds: []string{webID}},
			{Address: "10.96.0.2:9090", SpiffeIds: []string{apiID}}, {Address: "10.96.0.3:8443", SpiffeIds: []string{payID}}},
		Secrets: map[types.NamespacedName]*corev1.Secret{},
		Now:     now,
	}
	for _, s := range svcs {
		in.Services[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}
	in.addSecret(tlsSecret(t, "edge", "shop-tls", now.Add(-time.Hour), now.Add(24*time.Hour), "shop.example.com"))
	return in
}

func (in *Input) addSecret(s *corev1.Secret) {
	in.Secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
}

// render writes listeners one line per listener, route and backend.
func render(ls []config.GatewayListener) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s %s", l.Listen, l.Name)
		if l.ProxyProtocol {
			b.WriteString(" proxy-protocol")
		}
		if l.RedirectPort != 0 {
			fmt.Fprintf(&b, " redirect:%d", l.RedirectPort)
		}
		for _, p := range l.TrustedForwarders {
			fmt.Fprintf(&b, " trusted:%s", p)
		}
		b.WriteString("\n")
		for _, r := range l.Routes {
			fmt.Fprintf(&b, "  %s %s", r.Hostname, r.Mode)
			if r.Cert != nil {
				fmt.Fprintf(&b, " cert:%s", r.Cert.Name)
			}
			if r.HSTS != nil {
				fmt.Fprintf(&b, " hsts:%q", r.HSTS.Header())
			}
			b.WriteString("\n")
			for _, be := range r.Backends {
				b.WriteString("    " + be.PathPrefix)
				if be.Address == "" {
					if be.Weight != 1 {
						fmt.Fprintf(&b, " weight:%d", be.Weight)
					}
					b.WriteString(" unresolved\n")
					continue
				}
				fmt.Fprintf(&b, " %s %s", be.Address, be.ServerID)
				if be.Protocol != "" {
					b.WriteString(" " + be.Protocol)
				}
				if be.Weight != 1 {
					fmt.Fprintf(&b, " weight:%d", be.Weight)
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// conditions writes every condition as "<object> <type> <status> <reason>".
func conditions(res Result) []string {
	var out []string
	add := func(obj string, cs []metav1.Condition) {
		for _, c := range cs {
			out = append(out, fmt.Sprintf("%s %s %s %s", obj, c.Type, c.Status, c.Reason))
		}
	}
	add("gateway", res.Status.Conditions)
	for _, l := range res.Status.Listeners {
		add("listener "+string(l.Name), l.Conditions)
		out = append(out, fmt.Sprintf("listener %s attached %d", l.Name, l.AttachedRoutes))
	}
	for _, r := range res.Routes {
		for _, p := range r.Parents {
			obj := fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
			if p.ParentRef.SectionName != nil {
				obj += "." + string(*p.ParentRef.SectionName)
			}
			add(obj, p.Conditions)
		}
	}
	sort.Strings(out)
	return out
}

// message finds the message of a condition rendered as in conditions.
func message(res Result, obj, typ string) string {
	find := func(cs []metav1.Condition) string {
		for _, c := range cs {
			if c.Type == typ {
				return c.Message
			}
		}
		return ""
	}
	if obj == "gateway" {
		return find(res.Status.Conditions)
	}
	for _, l := range res.Status.Listeners {
		if "listener "+string(l.Name) == obj {
			return find(l.Conditions)
		}
	}
	for _, r := range res.Routes {
		if fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name) == obj && len(r.Parents) > 0 {
			return find(r.Parents[0].Conditions)
		}
	}
	return ""
}
