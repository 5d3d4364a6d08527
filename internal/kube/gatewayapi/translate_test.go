package gatewayapi

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const (
	redirect80 = ":80 http redirect:443\n"
	payRoute   = "  pay.example.com passthrough\n     10.96.0.3:8443 " + payID + "\n"
	shopRoute  = "  shop.example.com terminate cert:edge/shop-tls\n    / 10.96.0.1:80 " + webID + " http1\n    /api 10.96.0.2:9090 " + apiID + " http2\n"
	full       = redirect80 + ":443 https,tls\n" + payRoute + shopRoute
	noShop     = redirect80 + ":443 tls\n" + payRoute       // the HTTPS listener is not served
	noRoute    = redirect80 + ":443 https,tls\n" + payRoute // it is, without the shop route
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, in *Input)
		want   string   // the listeners, rendered
		conds  []string // conditions that must be among the rendered ones
		says   []string // "<object>|<type>|<text in its message>"
	}{
		{"baseline", func(*testing.T, *Input) {}, full, []string{
			"gateway Accepted True Accepted", "gateway Programmed True Programmed",
			"listener https Accepted True Accepted", "listener https ResolvedRefs True ResolvedRefs", "listener https Programmed True Programmed",
			"listener https Conflicted False NoConflicts", "listener https attached 1", "listener tls attached 1", "listener http attached 1",
			"HTTPRoute shop/shop.https Accepted True Accepted", "HTTPRoute shop/shop.https ResolvedRefs True ResolvedRefs",
			"TLSRoute pay/pay.tls Accepted True Accepted", "HTTPRoute edge/to-https.http Accepted True Accepted",
		}, nil},
		{"certificate in another namespace without a ReferenceGrant", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].TLS.CertificateRefs[0].Namespace = ptr(gwv1.Namespace("secrets"))
		}, noShop, []string{"listener https ResolvedRefs False RefNotPermitted", "listener https Programmed False Invalid",
			"gateway Accepted True ListenersNotValid", "HTTPRoute shop/shop.https Accepted False NotAllowedByListeners"},
			[]string{"listener https|ResolvedRefs|no ReferenceGrant"}},
		{"certificate in another namespace with a ReferenceGrant", func(t *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].TLS.CertificateRefs[0].Namespace = ptr(gwv1.Namespace("secrets"))
			in.addSecret(tlsSecret(t, "secrets", "shop-tls", in.Now.Add(-time.Hour), in.Now.Add(time.Hour), "shop.example.com"))
			in.Grants = append(in.Grants, grant("secrets", "Gateway", "edge", "Secret", ""))
		}, strings.ReplaceAll(full, "cert:edge/", "cert:secrets/"), []string{"listener https ResolvedRefs True ResolvedRefs"}, nil},
		{"grant for another Secret name", func(t *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].TLS.CertificateRefs[0].Namespace = ptr(gwv1.Namespace("secrets"))
			in.addSecret(tlsSecret(t, "secrets", "shop-tls", in.Now.Add(-time.Hour), in.Now.Add(time.Hour), "shop.example.com"))
			in.Grants = append(in.Grants, grant("secrets", "Gateway", "edge", "Secret", "other"))
		}, noShop, []string{"listener https ResolvedRefs False RefNotPermitted"}, nil},
		{"grant from another namespace", func(t *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].TLS.CertificateRefs[0].Namespace = ptr(gwv1.Namespace("secrets"))
			in.addSecret(tlsSecret(t, "secrets", "shop-tls", in.Now.Add(-time.Hour), in.Now.Add(time.Hour), "shop.example.com"))
			in.Grants = append(in.Grants, grant("secrets", "Gateway", "shop", "Secret", ""))
		}, noShop, []string{"listener https ResolvedRefs False RefNotPermitted"}, nil},
		{"Secret missing", func(_ *testing.T, in *Input) {
			in.Secrets = map[types.NamespacedName]*corev1.Secret{}
		}, noShop, []string{"listener https ResolvedRefs False InvalidCertificateRef"}, []string{"listener https|ResolvedRefs|does not exist"}},
		{"key does not match the certificate", func(t *testing.T, in *Input) {
			other := tlsSecret(t, "edge", "x", in.Now.Add(-time.Hour), in.Now.Add(time.Hour), "shop.example.com")
			in.Secrets[types.NamespacedName{Namespace: "edge", Name: "shop-tls"}].Data["tls.key"] = other.Data["tls.key"]
		}, noShop, []string{"listener https ResolvedRefs False InvalidCertificateRef"}, nil},
		{"expired certificate", func(t *testing.T, in *Input) {
			in.addSecret(tlsSecret(t, "edge", "shop-tls", in.Now.Add(-48*time.Hour), in.Now.Add(-time.Hour), "shop.example.com"))
		}, noShop, []string{"listener https ResolvedRefs False InvalidCertificateRef"}, []string{"listener https|ResolvedRefs|expired"}},
		{"certificateRef of another kind", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].TLS.CertificateRefs[0].Kind = ptr(gwv1.Kind("ConfigMap"))
		}, noShop, []string{"listener https ResolvedRefs False InvalidCertificateRef"}, nil},
		{"listener takes routes of its namespace only", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].AllowedRoutes = nil
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False NotAllowedByListeners", "listener https attached 0"}, nil},
		{"namespace selector matches", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].AllowedRoutes.Namespaces = selector("shop")
		}, full, []string{"HTTPRoute shop/shop.https Accepted True Accepted"}, nil},
		{"namespace selector does not match", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].AllowedRoutes.Namespaces = selector("pay")
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False NotAllowedByListeners"}, nil},
		{"listener allows TLSRoutes only", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].AllowedRoutes.Kinds = []gwv1.RouteGroupKind{{Kind: KindTLSRoute}}
		}, noShop, []string{"listener https ResolvedRefs False InvalidRouteKinds"}, nil},
		{"Exact path match", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.Rules[1].Matches[0].Path.Type = ptr(gwv1.PathMatchExact)
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False UnsupportedValue"}, []string{"HTTPRoute shop/shop|Accepted|PathPrefix only"}},
		{"header match", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.Rules[1].Matches[0].Headers = []gwv1.HTTPHeaderMatch{{Name: "x", Value: "y"}}
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False UnsupportedValue"}, nil},
		{"path prefix with a dot segment", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.Rules[1].Matches[0].Path.Value = ptr("/a/../api")
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False UnsupportedValue"}, nil},
		{"header filter", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier}}
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False UnsupportedValue"}, nil},
		{"two backendRefs split a rule's requests by weight", func(_ *testing.T, in *Input) {
			r := &in.HTTPRoutes[0].Spec.Rules[0]
			r.BackendRefs[0].Weight = ptr(int32(3))
			r.BackendRefs = append(r.BackendRefs, in.HTTPRoutes[0].Spec.Rules[1].BackendRefs[0])
		}, strings.Replace(full, "/ 10.96.0.1:80 "+webID+" http1\n", "/ 10.96.0.1:80 "+webID+" http1 weight:3\n    / 10.96.0.2:9090 "+apiID+" http2\n", 1),
			[]string{"HTTPRoute shop/shop.https Accepted True Accepted", "HTTPRoute shop/shop.https ResolvedRefs True ResolvedRefs"}, nil},
		{"a backendRef of weight 0 takes no requests", func(_ *testing.T, in *Input) {
			r := &in.HTTPRoutes[0].Spec.Rules[0]
			r.BackendRefs = append(r.BackendRefs, in.HTTPRoutes[0].Spec.Rules[1].BackendRefs[0])
			r.BackendRefs[1].Weight = ptr(int32(0))
		}, full, []string{"HTTPRoute shop/shop.https Accepted True Accepted"}, nil},
		{"every backendRef of weight 0: answered with 500", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Weight = ptr(int32(0))
		}, strings.Replace(full, "/ 10.96.0.1:80 "+webID+" http1", "/ unresolved", 1),
			[]string{"HTTPRoute shop/shop.https Accepted True Accepted", "HTTPRoute shop/shop.https ResolvedRefs True ResolvedRefs"}, nil},
		{"a backendRef that does not resolve keeps its share, answered with 500", func(_ *testing.T, in *Input) {
			r := &in.HTTPRoutes[0].Spec.Rules[0]
			r.BackendRefs = append(r.BackendRefs, r.BackendRefs[0])
			r.BackendRefs[1].Name = "missing"
		}, strings.Replace(full, "/ 10.96.0.1:80 "+webID+" http1\n", "/ 10.96.0.1:80 "+webID+" http1\n    / unresolved\n", 1),
			[]string{"HTTPRoute shop/shop.https Accepted True Accepted", "HTTPRoute shop/shop.https ResolvedRefs False BackendNotFound"}, nil},
		{"TLSRoute backendRef of weight 0: no connection goes anywhere", func(_ *testing.T, in *Input) {
			in.TLSRoutes[0].Spec.Rules[0].BackendRefs[0].Weight = ptr(int32(0))
		}, strings.Replace(full, " 10.96.0.3:8443 "+payID, " unresolved", 1), []string{"TLSRoute pay/pay.tls Accepted True Accepted"}, nil},
		{"trusted forwarders", func(_ *testing.T, in *Input) {
			in.Gateway.Annotations = map[string]string{AnnotationTrustedForwarders: " 10.0.0.0/16, 10.1.2.3 "}
		}, strings.Replace(full, ":443 https,tls\n", ":443 https,tls trusted:10.0.0.0/16 trusted:10.1.2.3/32\n", 1),
			[]string{"gateway Accepted True Accepted"}, nil},
		{"trusted forwarders that do not parse", func(_ *testing.T, in *Input) {
			in.Gateway.Annotations = map[string]string{AnnotationTrustedForwarders: "10.0.0.0/16, alb.internal"}
		}, "", []string{"gateway Accepted False InvalidParameters", "gateway Programmed False Invalid"},
			[]string{`gateway|Accepted|"alb.internal" is not an address or a CIDR`}},
		{"HSTS for the HTTPS listeners", func(_ *testing.T, in *Input) {
			in.Gateway.Annotations = map[string]string{AnnotationHSTS: "max-age=31536000; includeSubDomains"}
		}, strings.Replace(full, "cert:edge/shop-tls\n", "cert:edge/shop-tls hsts:\"max-age=31536000; includeSubDomains\"\n", 1),
			[]string{"gateway Accepted True Accepted"}, nil},
		{"HSTS that breaks the preload rules", func(_ *testing.T, in *Input) {
			in.Gateway.Annotations = map[string]string{AnnotationHSTS: "max-age=600; preload"}
		}, "", []string{"gateway Accepted False InvalidParameters"}, []string{"gateway|Accepted|annotation hopseal.io/hsts"}},
		{"a later rule with the same prefix does not join the split", func(_ *testing.T, in *Input) {
			rules := in.HTTPRoutes[0].Spec.Rules
			extra := *rules[1].DeepCopy()
			extra.Matches[0].Path.Value = ptr("/")
			in.HTTPRoutes[0].Spec.Rules = append(rules, extra)
		}, full, []string{"HTTPRoute shop/shop.https Accepted True Accepted"}, nil},
		{"Service missing: its prefix is answered with 500, never sent elsewhere", func(_ *testing.T, in *Input) {
			delete(in.Services, types.NamespacedName{Namespace: "shop", Name: "api"})
		}, strings.Replace(full, "/api 10.96.0.2:9090 "+apiID+" http2", "/api unresolved", 1),
			[]string{"HTTPRoute shop/shop.https Accepted True Accepted", "HTTPRoute shop/shop.https ResolvedRefs False BackendNotFound"}, nil},
		{"Service not meshed", func(_ *testing.T, in *Input) {
			in.Destinations = in.Destinations[1:]
		}, strings.Replace(full, "/ 10.96.0.1:80 "+webID+" http1", "/ unresolved", 1),
			[]string{"HTTPRoute shop/shop.https ResolvedRefs False BackendNotFound"}, []string{"HTTPRoute shop/shop|ResolvedRefs|not in the mesh"}},
		{"Service with two identities", func(_ *testing.T, in *Input) {
			in.Destinations[0].SpiffeIds = []string{apiID, webID}
		}, strings.Replace(full, "/ 10.96.0.1:80 "+webID+" http1", "/ unresolved", 1),
			[]string{"HTTPRoute shop/shop.https ResolvedRefs False BackendNotFound"}, nil},
		{"backendRef without a port", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Port = nil
		}, strings.Replace(full, "/ 10.96.0.1:80 "+webID+" http1", "/ unresolved", 1),
			[]string{"HTTPRoute shop/shop.https ResolvedRefs False BackendNotFound"}, nil},
		{"backendRef to another namespace without a ReferenceGrant", func(_ *testing.T, in *Input) {
			in.TLSRoutes[0].Namespace = "edge"
			in.TLSRoutes[0].Spec.Rules[0].BackendRefs[0].Namespace = ptr(gwv1.Namespace("pay"))
		}, strings.Replace(full, " 10.96.0.3:8443 "+payID, " unresolved", 1), []string{"TLSRoute edge/pay.tls ResolvedRefs False RefNotPermitted"}, nil},
		{"backendRef to another namespace with a ReferenceGrant", func(_ *testing.T, in *Input) {
			in.TLSRoutes[0].Namespace = "edge"
			in.TLSRoutes[0].Spec.Rules[0].BackendRefs[0].Namespace = ptr(gwv1.Namespace("pay"))
			in.Grants = append(in.Grants, grant("pay", KindTLSRoute, "edge", "Service", "pay"))
		}, full, []string{"TLSRoute edge/pay.tls ResolvedRefs True ResolvedRefs"}, nil},
		{"backendRef of another kind", func(_ *testing.T, in *Input) {
			in.TLSRoutes[0].Spec.Rules[0].BackendRefs[0].Kind = ptr(gwv1.Kind("Pod"))
		}, strings.Replace(full, " 10.96.0.3:8443 "+payID, " unresolved", 1), []string{"TLSRoute pay/pay.tls ResolvedRefs False InvalidKind"}, nil},
		{"proxying rule on the HTTP listener: no plaintext hop", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.ParentRefs = []gwv1.ParentReference{parent("http")}
		}, noRoute, []string{"HTTPRoute shop/shop.http Accepted False UnsupportedValue"}, []string{"HTTPRoute shop/shop|Accepted|never proxies plaintext"}},
		{"route without a section attaches where it fits", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.ParentRefs = []gwv1.ParentReference{parent("")}
		}, full, []string{"HTTPRoute shop/shop Accepted True Accepted", "listener http attached 1", "listener https attached 1"}, nil},
		{"redirect to another port", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[1].Spec.Rules[0].Filters[0].RequestRedirect.Port = ptr(int32(8443))
		}, strings.Replace(full, "redirect:443", "redirect:8443", 1), nil, nil},
		{"redirect to http", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[1].Spec.Rules[0].Filters[0].RequestRedirect.Scheme = ptr("http")
		}, full, []string{"HTTPRoute edge/to-https.http Accepted False UnsupportedValue"}, nil},
		{"TCP listener", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners = append(in.Gateway.Spec.Listeners, listener("tcp", 5432, gwv1.TCPProtocolType, ""))
		}, full, []string{"listener tcp Accepted False UnsupportedProtocol", "gateway Accepted True ListenersNotValid"}, nil},
		{"TLS listener terminating", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[1].TLS.Mode = ptr(gwv1.TLSModeTerminate)
		}, redirect80 + ":443 https\n" + shopRoute, []string{"listener tls Accepted False UnsupportedValue", "TLSRoute pay/pay.tls Accepted False NotAllowedByListeners"}, nil},
		{"same port and hostname", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[1].Hostname = ptr(gwv1.Hostname("shop.example.com"))
		}, redirect80 + ":443 https\n" + shopRoute, []string{"listener tls Conflicted True HostnameConflict"}, nil},
		{"HTTP on a TLS port", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[2].Port = 443
		}, ":443 https,tls\n" + payRoute + shopRoute, []string{"listener http Conflicted True ProtocolConflict"}, nil},
		{"route hostname outside the listener's", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.Hostnames = []gwv1.Hostname{"blog.example.com"}
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False NoMatchingListenerHostname"}, nil},
		{"no listener of that name", func(_ *testing.T, in *Input) {
			in.HTTPRoutes[0].Spec.ParentRefs[0].SectionName = ptr(gwv1.SectionName("web"))
		}, noRoute, []string{"HTTPRoute shop/shop.web Accepted False NoMatchingParent"}, nil},
		{"wildcard listener, exact route name", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].Hostname = ptr(gwv1.Hostname("*.example.com"))
		}, full, []string{"HTTPRoute shop/shop.https Accepted True Accepted"}, nil},
		{"no hostname on listener or route", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Listeners[0].Hostname = nil
			in.HTTPRoutes[0].Spec.Hostnames = nil
		}, noRoute, []string{"HTTPRoute shop/shop.https Accepted False UnsupportedValue"}, []string{"HTTPRoute shop/shop|Accepted|server name"}},
		{"an older route claims the same prefix first", func(_ *testing.T, in *Input) {
			older := in.HTTPRoutes[0].DeepCopy()
			older.Name, older.CreationTimestamp.Time = "old", older.CreationTimestamp.Add(-time.Hour)
			older.Spec.Rules = []gwv1.HTTPRouteRule{prefixRule("/api", "web", 80)}
			in.HTTPRoutes = append(in.HTTPRoutes, older)
		}, strings.Replace(full, "/api 10.96.0.2:9090 "+apiID+" http2", "/api 10.96.0.1:80 "+webID+" http1", 1),
			[]string{"listener https attached 2"}, nil},
		{"spec.addresses", func(_ *testing.T, in *Input) {
			in.Gateway.Spec.Addresses = []gwv1.GatewaySpecAddress{{Value: "192.0.2.1"}}
		}, "", []string{"gateway Accepted False UnsupportedAddress", "gateway Programmed False Invalid"}, nil},
		{"PROXY protocol annotation", func(_ *testing.T, in *Input) {
			in.Gateway.Annotations = map[string]string{AnnotationProxyProtocol: "true"}
		}, ":80 http proxy-protocol redirect:443\n:443 https,tls proxy-protocol\n" + payRoute + shopRoute, nil, nil},
		{"route naming another Gateway", func(_ *testing.T, in *Input) {
			in.TLSRoutes[0].Spec.ParentRefs[0].Name = "other"
		}, redirect80 + ":443 https,tls\n" + shopRoute, []string{"listener tls attached 0"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := baseline(t)
			tc.change(t, in)
			res := Translate(*in)
			if got := render(res.Listeners); got != tc.want {
				t.Errorf("listeners:\n%s\nwant:\n%s", got, tc.want)
			}
			got := conditions(res)
			for _, c := range tc.conds {
				if !slices.Contains(got, c) {
					t.Errorf("no condition %q among:\n%s", c, strings.Join(got, "\n"))
				}
			}
			for _, s := range tc.says {
				parts := strings.Split(s, "|")
				if m := message(res, parts[0], parts[1]); !strings.Contains(m, parts[2]) {
					t.Errorf("%s %s says %q; want it to say %q", parts[0], parts[1], m, parts[2])
				}
			}
		})
	}
}

func grant(ns, fromKind, fromNS, toKind, toName string) *gwv1.ReferenceGrant {
	g := &gwv1.ReferenceGrant{ObjectMeta: objectMeta(ns, "allow", 0), Spec: gwv1.ReferenceGrantSpec{
		From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: gwv1.Kind(fromKind), Namespace: gwv1.Namespace(fromNS)}},
		To:   []gwv1.ReferenceGrantTo{{Kind: gwv1.Kind(toKind)}},
	}}
	if toName != "" {
		g.Spec.To[0].Name = ptr(gwv1.ObjectName(toName))
	}
	return g
}

func selector(team string) *gwv1.RouteNamespaces {
	return &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}}
}

// Every condition carries the generation it was computed from.
func TestObservedGeneration(t *testing.T) {
	res := Translate(*baseline(t))
	for _, c := range res.Status.Conditions {
		if c.ObservedGeneration != 3 {
			t.Errorf("gateway %s observedGeneration %d, want 3", c.Type, c.ObservedGeneration)
		}
	}
	for _, r := range res.Routes {
		for _, p := range r.Parents {
			if p.ControllerName != ControllerName {
				t.Errorf("%s %s: controllerName %q", r.Kind, r.Name, p.ControllerName)
			}
			for _, c := range p.Conditions {
				if c.ObservedGeneration != 3 {
					t.Errorf("%s %s %s observedGeneration %d, want 3", r.Kind, r.Name, c.Type, c.ObservedGeneration)
				}
			}
		}
	}
}

// SecretRefs names only the Secrets a Gateway may read.
func TestSecretRefs(t *testing.T) {
	in := baseline(t)
	other := in.Gateway.Spec.Listeners[0]
	other.Name = "other"
	other.TLS = &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "x", Namespace: ptr(gwv1.Namespace("secrets"))}}}
	granted := other
	granted.Name = "granted"
	granted.TLS = &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "y", Namespace: ptr(gwv1.Namespace("vault"))}}}
	in.Gateway.Spec.Listeners = append(in.Gateway.Spec.Listeners, other, granted)
	got := SecretRefs(in.Gateway, []*gwv1.ReferenceGrant{grant("vault", "Gateway", "edge", "Secret", "y")})
	want := []types.NamespacedName{{Namespace: "edge", Name: "shop-tls"}, {Namespace: "vault", Name: "y"}}
	if !slices.Equal(got, want) {
		t.Errorf("SecretRefs = %v, want %v (never secrets/x: no grant)", got, want)
	}
}
