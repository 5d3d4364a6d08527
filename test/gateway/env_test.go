package gateway_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

// Load balancer modes.
const (
	nlb = "nlb" // TCP passthrough with a PROXY v2 header, as a network load balancer
	alb = "alb" // its own public certificate, then TLS to the gateway, as an application load balancer
)

// Ports: the load balancer's public one, the gateway's listener and
// admin, the apps in their pods.
const (
	lbPort      = 443
	gatewayPort = 8443
	gatewayAdm  = "127.0.0.1:19190"
	webPort     = 8080
	payPort     = 8443
)

const (
	shopHost = "shop.example.com"
	payHost  = "pay.example.com"
)

// edge is one run's whole path: a mesh with a client, a load balancer, a
// gateway and two meshed pods with apps, all captured on the bridge.
type edge struct {
	mode             string
	dir              string
	m                *testenv.Mesh
	capture          *testenv.Capture
	client, lb, gw   *testenv.MeshPod
	web, pay         *testenv.MeshPod
	gatewayID        string
	gateway, haproxy *testenv.Proc
	webApp, payApp   *app
	appLoopback      *podCapture // the web pod's loopback: the proxy's delivery to its app
	// The roots a client verifies each public name with: the gateway's
	// certificate (nlb), the load balancer's (alb), the pay app's own.
	roots   map[string]string
	lbCert  string // alb: the load balancer's client certificate subject
	lbFiles lbFiles
}

// lbFiles are what haproxy reads in alb mode.
type lbFiles struct{ publicPEM, clientPEM, gatewayCA string }

// newEdge builds and starts everything, in the order a cluster would: the
// capture first, so every connection is seen from its first byte.
func newEdge(t *testing.T, mode string) *edge {
	testenv.RequireTool(t, "haproxy", "tcpdump", "ss")
	e := &edge{mode: mode, dir: t.TempDir(), roots: map[string]string{}}
	e.m = testenv.NewMesh(t, testenv.MeshConfig{})
	e.capture = testenv.StartCapture(t, e.m.Net.Bridge, "tcp")
	e.gatewayID = "spiffe://" + e.m.TrustDomain + "/ns/edge/sa/gateway"
	allow := func(port int) string {
		return fmt.Sprintf("rules:\n  - name: gateway\n    ports: [%d]\n    from:\n      - spiffe_id: %s\n", port, e.gatewayID)
	}
	pods := e.m.AddPods(t,
		testenv.PodSpec{Name: "client", NoProxy: true},
		testenv.PodSpec{Name: "lb", NoProxy: true},
		testenv.PodSpec{Name: "gateway", NoProxy: true},
		testenv.PodSpec{Name: "web", Policy: allow(webPort)},
		testenv.PodSpec{Name: "pay", Policy: allow(payPort)})
	e.client, e.lb, e.gw, e.web, e.pay = pods[0], pods[1], pods[2], pods[3], pods[4]

	payCA := testpki.New(t, "pay.test")
	e.roots[payHost] = e.rootFile(t, payCA, "pay-ca.pem")
	e.webApp = serveHTTPApp(t, e.web, webPort, nil)
	e.payApp = serveHTTPApp(t, e.pay, payPort, e.appTLS(t, payCA))
	e.appLoopback = startPodCapture(t, e.web.Pod, "lo", fmt.Sprintf("tcp port %d", webPort))

	gwCA := testpki.New(t, "gateway-public.test")
	gwCert, gwKey, _ := e.webCert(t, gwCA, "gateway-shop", x509.ExtKeyUsageServerAuth, shopHost)
	e.roots[shopHost] = e.rootFile(t, gwCA, "gateway-public-ca.pem")
	clientCAFile := ""
	if mode == alb {
		lbCA, lbClientCA := testpki.New(t, "lb-public.test"), testpki.New(t, "lb-client.test")
		_, _, e.lbFiles.publicPEM = e.webCert(t, lbCA, "lb-public", x509.ExtKeyUsageServerAuth, shopHost)
		var leaf *x509.Certificate
		_, _, e.lbFiles.clientPEM, leaf = e.webCertLeaf(t, lbClientCA, "lb-client", x509.ExtKeyUsageClientAuth, "lb.internal")
		e.lbCert = leaf.Subject.String()
		e.lbFiles.gatewayCA = e.roots[shopHost]
		e.roots[shopHost] = e.rootFile(t, lbCA, "lb-public-ca.pem")
		clientCAFile = e.rootFile(t, lbClientCA, "lb-client-ca.pem")
	}
	e.startGateway(t, gwCert, gwKey, clientCAFile)
	e.startHAProxy(t)
	return e
}

// startGateway runs `hopseal gateway` in its namespace with its own
// identity from the mesh's CA.
func (e *edge) startGateway(t *testing.T, cert, key, clientCAFile string) {
	var b strings.Builder
	fmt.Fprintf(&b, `spiffe_id: %s
ca: {address: %s, bundle_file: %s, join_token_file: %s}
admin: {listen: %s}
data_dir: %s
listeners:
  - name: https
    listen: %s
`, e.gatewayID, e.m.CA.IssuerAddr, e.m.CA.BundleFile, e.m.CA.Token(t, e.gatewayID), gatewayAdm,
		filepath.Join(e.dir, "gateway-data"), e.gw.Addr(gatewayPort))
	if e.mode == nlb {
		b.WriteString("    proxy_protocol: true\n")
	} else { // an ALB names the client in X-Forwarded-For
		fmt.Fprintf(&b, "    trusted_forwarders: [%s]\n", e.lb.IP)
	}
	if clientCAFile != "" {
		fmt.Fprintf(&b, "    client_ca_file: %s\n", clientCAFile)
	}
	fmt.Fprintf(&b, `    routes:
      - hostname: %s
        mode: terminate
        tls: {cert_file: %s, key_file: %s}
        backends: [{path_prefix: /, address: %s, server_id: %s}]
`, shopHost, cert, key, e.web.Addr(webPort), e.web.ID)
	if e.mode == nlb { // a passthrough route cannot sit behind client_ca_file
		fmt.Fprintf(&b, "      - {hostname: %s, mode: passthrough, backend: {address: %s, server_id: %s}}\n",
			payHost, e.pay.Addr(payPort), e.pay.ID)
	}
	cfg := e.write(t, "gateway.yaml", b.String())
	e.gateway = e.gw.Start(t, e.dir, testenv.Binary(t), "gateway", "-c", cfg)
	e.gateway.WaitLogLines(t, "gateway ready", 1, 30*time.Second)
}

// startHAProxy runs haproxy in the lb namespace and waits until it
// listens, without connecting to it: a probe would be a connection of its
// own on the wire.
func (e *edge) startHAProxy(t *testing.T) {
	front := e.lb.Addr(lbPort)
	gw := e.gw.Addr(gatewayPort)
	var cfg string
	switch e.mode {
	case nlb:
		cfg = fmt.Sprintf(`defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend public
  bind %s
  default_backend gateway
backend gateway
  server gw %s send-proxy-v2
`, front, gw)
	case alb:
		cfg = fmt.Sprintf(`defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend public
  bind %s ssl crt %s alpn h2,http/1.1
  default_backend gateway
  option forwardfor
  http-request set-header X-Forwarded-Proto https
backend gateway
  server gw %s ssl verify required ca-file %s verifyhost %s sni str(%s) crt %s
`, front, e.lbFiles.publicPEM, gw, e.lbFiles.gatewayCA, shopHost, shopHost, e.lbFiles.clientPEM)
	}
	path := e.write(t, "haproxy.cfg", cfg)
	e.haproxy = e.lb.Start(t, e.dir, "haproxy", "-db", "-f", path)
	testenv.Eventually(t, 10*time.Second, "haproxy listening on "+front, func() bool {
		if e.haproxy.Exited() {
			t.Fatalf("haproxy exited: %s", e.haproxy.Output())
		}
		out, err := e.lb.Run(t, "ss", "-Hltn", fmt.Sprintf("sport = :%d", lbPort))
		return err == nil && strings.Contains(out, front)
	})
}

func (e *edge) write(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *edge) rootFile(t *testing.T, ca *testpki.CA, name string) string {
	return e.write(t, name, string(pki.EncodeCerts(ca.Root)))
}

// webCert writes a web certificate (chain, key, and both in one PEM for
// haproxy) for names, signed by ca.
func (e *edge) webCert(t *testing.T, ca *testpki.CA, name string, usage x509.ExtKeyUsage, names ...string) (cert, key, bundle string) {
	cert, key, bundle, _ = e.webCertLeaf(t, ca, name, usage, names...)
	return cert, key, bundle
}

func (e *edge) webCertLeaf(t *testing.T, ca *testpki.CA, name string, usage x509.ExtKeyUsage, names ...string) (cert, key, bundle string, leaf *x509.Certificate) {
	t.Helper()
	tmpl := ca.Leaf("spiffe://unused.test/" + name)
	tmpl.URIs, tmpl.DNSNames, tmpl.ExtKeyUsage = nil, names, []x509.ExtKeyUsage{usage}
	tmpl.Subject = pkix.Name{CommonName: names[0]}
	chain, signer := ca.Sign(tmpl)
	keyPEM, err := pki.EncodeKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pki.EncodeCerts(chain...))
	return e.write(t, name+".crt", certPEM), e.write(t, name+".key", string(keyPEM)),
		e.write(t, name+".pem", certPEM+string(keyPEM)), chain[0]
}
