package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/kube/gateways"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/wire"
)

// Gateway API resources configure the chart's gateway pod through the
// controller: status conditions are written back; a request from outside
// reaches a meshed pod's proxy over mutual TLS with the gateway's SPIFFE
// ID (TLS records only on the wire); a TLSRoute passes the client's TLS
// through; the HTTP listener only redirects; a route change applies
// without restarting the gateway; a certificate in another namespace is
// refused without a ReferenceGrant, and with one still cannot be read
// beyond the controller's RBAC; weighted backendRefs split a rule; the
// Gateway's annotations reach the gateway.
func TestGatewayAPIOnKubernetes(t *testing.T) {
	c := startCluster(t)
	public, payCA := testpki.New(t, "public.test"), testpki.New(t, "pay.test")
	shop := c.k.Namespace(t, "shop-", map[string]string{inject.LabelInject: inject.Enabled})
	for _, sa := range []string{"web", "api", "pay"} {
		if _, err := c.cs.CoreV1().ServiceAccounts(shop).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	web := c.runApp(t, shop, "web", "web", 8080, httpApp(t, "web", nil))
	api := c.runApp(t, shop, "api", "api", 8080, httpApp(t, "api", nil))
	_, _, payPair := serverCert(t, payCA, "pay.example.com")
	pay := c.runApp(t, shop, "pay", "pay", 8443, httpApp(t, "pay", &tls.Config{Certificates: []tls.Certificate{payPair}}))
	kubeProxy := map[string]string{
		c.service(t, shop, "web", 80, 8080, web) + ":80":     web.Net.Addr(8080),
		c.service(t, shop, "api", 80, 8080, api) + ":80":     api.Net.Addr(8080),
		c.service(t, shop, "pay", 8443, 8443, pay) + ":8443": pay.Net.Addr(8443),
	}

	shopCert, shopKey, _ := serverCert(t, public, "shop.example.com")
	c.secret(t, gatewayNS, "shop-tls", shopCert, shopKey)
	c.apply(t, fmt.Sprintf(gatewayYAML, gatewayNS, shop, gatewayNS, shop, gatewayNS, gatewayNS))
	// Objects outlive their deleted namespace here (no controller-manager),
	// and an older route would win the name in the next test of this
	// cluster.
	t.Cleanup(func() { c.k.Kubectl(t, "", "-n", shop, "delete", "httproute/shop", "tlsroute/pay") })

	// Status, as the leader writes it.
	c.waitGateway(t, gatewayNS, "hopseal", "", expect{"Accepted", "True", "Accepted", ""}, expect{"Programmed", "True", "Programmed", ""})
	c.waitGateway(t, gatewayNS, "hopseal", "https", expect{"ResolvedRefs", "True", "ResolvedRefs", ""}, expect{"Programmed", "True", "Programmed", ""})
	testenv.Eventually(t, 30*time.Second, "one route attached to each listener", func() bool {
		var st gwv1.GatewayStatus
		c.status(t, gateways.Gateways, gatewayNS, "hopseal", &st)
		for _, l := range st.Listeners {
			if l.AttachedRoutes != 1 {
				return false
			}
		}
		return len(st.Listeners) == 3
	})
	c.waitRoute(t, gateways.HTTPRoutes, shop, "shop", 1, expect{"Accepted", "True", "Accepted", ""}, expect{"ResolvedRefs", "True", "ResolvedRefs", ""})
	c.waitRoute(t, gateways.TLSRoutes, shop, "pay", 1, expect{"Accepted", "True", "Accepted", ""}, expect{"ResolvedRefs", "True", "ResolvedRefs", ""})
	var class gwv1.GatewayClassStatus
	testenv.Eventually(t, 30*time.Second, "GatewayClass hopseal accepted", func() bool {
		return c.status(t, gateways.GatewayClasses, "", "hopseal", &class) && (expect{"Accepted", "True", "Accepted", ""}).in(class.Conditions, 0)
	})

	// The chart's gateway pod, configured by the controller.
	gw, proc := c.runGatewayPod(t, kubeProxy)
	proc.WaitLogMatch(t, "gateway configuration applied", 60*time.Second, func(l map[string]any) bool { return l["gateway"] == gatewayNS+"/hopseal" })
	testenv.Eventually(t, 30*time.Second, "the gateway pod ready", func() bool {
		resp, err := http.Get("http://" + gw.Net.Addr(9090) + "/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	// HTTPS from outside to a meshed pod, over mesh mTLS inside.
	capture := testenv.StartCapture(t, c.net.Bridge, "tcp")
	client := httpsTo(gw.Net.Addr(443), roots(public))
	marker := "/hello-marker-9731"
	if body, err := get(client, "https://shop.example.com"+marker); err != nil || body != "web "+marker {
		t.Fatalf("through the gateway: %q, %v; want web's answer", body, err)
	}
	in := web.proxy.WaitLogMatch(t, "http request", 10*time.Second, func(l map[string]any) bool { return l["path"] == marker })
	if in["peer_id"] != gatewayID || in["decision"] != "allow" {
		t.Errorf("web's proxy saw %v; want the request from %s", in, gatewayID)
	}
	wireProof(t, capture, gw.Net.IP, web.Net.IP, "hello-marker-9731")

	// Passthrough: pay's own certificate, the gateway's identity to pay's proxy.
	payClient := httpsTo(gw.Net.Addr(443), roots(payCA))
	if body, err := get(payClient, "https://pay.example.com/charge"); err != nil || body != "pay /charge" {
		t.Errorf("passthrough: %q, %v; want pay's answer over its own TLS", body, err)
	}
	payIn := pay.proxy.WaitLogMatch(t, "connection", 10*time.Second, func(l map[string]any) bool { return l["direction"] == "inbound" })
	if payIn["peer_id"] != gatewayID {
		t.Errorf("pay's proxy saw %v; want %s", payIn["peer_id"], gatewayID)
	}

	// The HTTP listener only redirects.
	plain := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", gw.Net.Addr(80))
		}}}
	resp, err := plain.Get("http://shop.example.com/x?y=1")
	if err != nil || resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://shop.example.com/x?y=1" {
		t.Errorf("HTTP listener: %v %v; want 308 to https", resp, err)
	}

	// A route change applies without restarting the gateway.
	if out, err := c.k.Kubectl(t, "", "-n", shop, "patch", "httproute", "shop", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/rules/0/backendRefs/0/name","value":"api"}]`); err != nil {
		t.Fatalf("kubectl patch: %v\n%s", err, out)
	}
	changed := time.Now()
	testenv.Eventually(t, 10*time.Second, "the route to api", func() bool {
		body, err := get(client, "https://shop.example.com/after")
		return err == nil && body == "api /after"
	})
	t.Logf("route change served %v after kubectl patch returned", time.Since(changed).Round(time.Millisecond))
	if proc.Exited() {
		t.Error("the gateway exited")
	}
	// The change closed the gateway's idle connections to web: its proxy
	// logs the whole connection.
	conn := web.proxy.WaitLogMatch(t, "connection", 10*time.Second, func(l map[string]any) bool { return l["direction"] == "inbound" })
	if conn["peer_id"] != gatewayID || conn["security"] != "mutual_tls" || conn["tls_version"] != "TLS 1.3" {
		t.Errorf("web's proxy saw %v; want mutual TLS 1.3 from %s", conn, gatewayID)
	}
	c.waitRoute(t, gateways.HTTPRoutes, shop, "shop", 2, expect{"Accepted", "True", "Accepted", ""})

	// Two weighted backendRefs split the rule's requests: of every two,
	// one goes to each.
	if out, err := c.k.Kubectl(t, "", "-n", shop, "patch", "httproute", "shop", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/rules/0/backendRefs","value":[{"name":"web","port":80,"weight":5},{"name":"api","port":80,"weight":5}]}]`); err != nil {
		t.Fatalf("kubectl patch: %v\n%s", err, out)
	}
	testenv.Eventually(t, 10*time.Second, "web back in the route", func() bool {
		body, err := get(client, "https://shop.example.com/split")
		return err == nil && body == "web /split"
	})
	got := map[string]int{}
	for range 4 {
		body, err := get(client, "https://shop.example.com/split")
		if err != nil {
			t.Fatal(err)
		}
		name, _, _ := strings.Cut(body, " ")
		got[name]++
	}
	if got["web"] != 2 || got["api"] != 2 {
		t.Errorf("four requests to a 5:5 split: %v, want two each", got)
	}
	c.waitRoute(t, gateways.HTTPRoutes, shop, "shop", 3, expect{"Accepted", "True", "Accepted", ""})

	// Annotations on the Gateway reach the gateway: HSTS on every answer.
	if out, err := c.k.Kubectl(t, "", "-n", gatewayNS, "annotate", "gateway", "hopseal", "hopseal.io/hsts=max-age=600"); err != nil {
		t.Fatalf("kubectl annotate: %v\n%s", err, out)
	}
	testenv.Eventually(t, 10*time.Second, "the Gateway's HSTS on answers", func() bool {
		resp, err := client.Get("https://shop.example.com/hsts")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.Header.Get("Strict-Transport-Security") == "max-age=600"
	})

	c.checkReport(t)
	c.crossNamespaceCertificate(t, public)
}

const gatewayYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: hopseal, namespace: %s}
spec:
  gatewayClassName: hopseal
  listeners:
    - name: https
      port: 443
      protocol: HTTPS
      hostname: shop.example.com
      tls: {mode: Terminate, certificateRefs: [{name: shop-tls}]}
      allowedRoutes: {namespaces: {from: All}}
    - name: tls
      port: 443
      protocol: TLS
      hostname: pay.example.com
      tls: {mode: Passthrough}
      allowedRoutes: {namespaces: {from: All}}
    - name: http
      port: 80
      protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: %s}
spec:
  parentRefs: [{name: hopseal, namespace: %s, sectionName: https}]
  hostnames: [shop.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: web, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: pay, namespace: %s}
spec:
  parentRefs: [{name: hopseal, namespace: %s, sectionName: tls}]
  hostnames: [pay.example.com]
  rules:
    - backendRefs: [{name: pay, port: 8443}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-https, namespace: %s}
spec:
  parentRefs: [{name: hopseal, sectionName: http}]
  rules:
    - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
`

func (c *cluster) apply(t *testing.T, yaml string) {
	t.Helper()
	if out, err := c.k.Kubectl(t, yaml, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// secret creates or replaces a TLS Secret (the chart's namespace outlives
// a test in the shared cluster).
func (c *cluster) secret(t *testing.T, ns, name string, cert, key []byte) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": cert, "tls.key": key}}
	_, err := c.cs.CoreV1().Secrets(ns).Create(ctx(t), s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.cs.CoreV1().Secrets(ns).Update(ctx(t), s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// httpApp serves "<name> <path>" on the listener, over TLS with conf.
func httpApp(t *testing.T, name string, conf *tls.Config) func(net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	t.Cleanup(func() { srv.Close() })
	return func(l net.Listener) {
		if conf != nil {
			l = tls.NewListener(l, conf)
		}
		srv.Serve(l)
	}
}

// httpsTo sends every request to addr, with SNI from the URL.
func httpsTo(addr string, roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
	}}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
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

// wireProof: between the gateway and the pod, TLS records only.
func wireProof(t *testing.T, capture *testenv.Capture, gwIP, podIP netip.Addr, marker string) {
	t.Helper()
	conns := capture.WaitConns(t, 15*time.Second, "gateway → pod on the wire", func(cs []testenv.TCPConn) bool {
		for _, conn := range testenv.Between(cs, gwIP, podIP) {
			for _, s := range conn.Streams() {
				if len(s.Data) > 0 {
					return true
				}
			}
		}
		return false
	})
	capture.Stop(t)
	for _, conn := range testenv.Between(conns, gwIP, podIP) {
		for _, s := range conn.Streams() {
			if _, err := wire.ParseTLSRecords(s.Data); err != nil {
				t.Errorf("%s → %s is not TLS records: %v", s.Src, s.Dst, err)
			}
			if strings.Contains(string(s.Data), marker) {
				t.Errorf("%s → %s carries the marker in plaintext", s.Src, s.Dst)
			}
		}
	}
}
