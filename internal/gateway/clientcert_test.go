package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

// With client_ca_file, only a load balancer holding a client certificate
// from that CA gets through; each case changes one thing in a good one.
func TestClientCertificate(t *testing.T) {
	e := newEnv(t)
	lbCA := testpki.New(t, "lb.test")
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	api := e.meshServer("spiffe://demo.local/ns/shop/sa/api", gwID, nil, echo("api"))
	g := e.start(terminateFile(e, web, api, "    client_ca_file: "+e.rootFile(lbCA, "lb-ca.pem")+"\n"))
	pair := func(ca *testpki.CA, file string, usage x509.ExtKeyUsage) []tls.Certificate {
		certPath, keyPath := e.webCert(ca, file, usage, "lb.internal")
		p, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{p}
	}
	tests := []struct {
		name   string
		certs  []tls.Certificate
		ok     bool
		reason string // in the refusal's log line
	}{
		{"load balancer's certificate", pair(lbCA, "lb", x509.ExtKeyUsageClientAuth), true, ""},
		{"no certificate", nil, false, "none presented"},
		{"certificate from another CA", pair(e.public, "other", x509.ExtKeyUsageClientAuth), false, "unknown authority"},
		{"server-only certificate", pair(lbCA, "server-only", x509.ExtKeyUsageServerAuth), false, "incompatible key usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := map[string]string{"listener": "https", "result": "client_cert_rejected"}
			before := g.metric(t, "hopseal_gateway_connections_total", labels)
			c := e.client(g.addr("https"), false, nil)
			if tt.certs != nil { // sent even where the CA list asks for another
				c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return &tt.certs[0], nil
				}
			}
			resp, err := c.Get("https://shop.example.com/")
			if tt.ok {
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("refused the load balancer: %v", err)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("status %d without a valid client certificate", resp.StatusCode)
			}
			if !strings.Contains(err.Error(), "bad certificate") {
				t.Errorf("client error %v, want the bad_certificate alert", err)
			}
			testenv.Eventually(t, wait, "the refusal counted", func() bool {
				return g.metric(t, "hopseal_gateway_connections_total", labels) == before+1
			})
			line := g.waitLine(t, "connection", func(l map[string]any) bool {
				return l["result"] == "client_cert_rejected" && strings.Contains(l["reason"].(string), tt.reason)
			})
			if line["level"] != "WARN" {
				t.Errorf("refusal line %v", line)
			}
		})
	}
	if n := len(web.Peers()); n != 1 {
		t.Errorf("the backend saw %d connections; only the good client's request should reach it", n)
	}
}
