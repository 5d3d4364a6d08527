package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

// crossNamespaceCertificate: a Gateway's certificateRef to a Secret of
// another namespace is refused without a ReferenceGrant there (so the
// Secret is never read); with one, the controller's RBAC (the chart's
// gateway.secretNamespaces) still keeps it from reading the Secret.
func (c *cluster) crossNamespaceCertificate(t *testing.T, public *testpki.CA) {
	t.Helper()
	certs := c.k.Namespace(t, "certs-", nil)
	cert, key, _ := serverCert(t, public, "other.example.com")
	c.secret(t, certs, "other-tls", cert, key)
	c.apply(t, fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: other, namespace: %s}
spec:
  gatewayClassName: hopseal
  listeners:
    - name: https
      port: 8443
      protocol: HTTPS
      hostname: other.example.com
      tls: {certificateRefs: [{name: other-tls, namespace: %s}]}
`, gatewayNS, certs))
	t.Cleanup(func() { c.k.Kubectl(t, "", "-n", gatewayNS, "delete", "gateway/other") })
	c.waitGateway(t, gatewayNS, "other", "https",
		expect{"ResolvedRefs", "False", "RefNotPermitted", "no ReferenceGrant"}, expect{"Programmed", "False", "Invalid", ""})
	c.waitGateway(t, gatewayNS, "other", "", expect{"Accepted", "False", "ListenersNotValid", ""})
	const refused = "the controller may not read a Secret a Gateway names; allow get on it (chart value gateway.secretNamespaces)"
	for _, l := range c.ctl.LogLines(refused) {
		if l["secret"] == certs+"/other-tls" {
			t.Errorf("the controller tried to read a Secret no ReferenceGrant allowed: %v", l)
		}
	}

	c.apply(t, fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: gateways-of-%s, namespace: %s}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: %s}]
  to: [{group: "", kind: Secret, name: other-tls}]
`, gatewayNS, certs, gatewayNS))
	c.waitGateway(t, gatewayNS, "other", "https", expect{"ResolvedRefs", "False", "InvalidCertificateRef", "may not read Secret " + certs + "/other-tls"})
	c.ctl.WaitLogMatch(t, refused, 10*time.Second, func(l map[string]any) bool { return l["secret"] == certs+"/other-tls" })
}

// checkReport: `hopseal check` finds the Gateway API CRDs the gateway needs.
func (c *cluster) checkReport(t *testing.T) {
	t.Helper()
	if result, msg := gatewayCheck(t, c.k.Kubeconfig); result != "success" || !strings.Contains(msg, "v1.6.3 standard") {
		t.Errorf("hopseal check: %s %q; want success naming v1.6.3 standard", result, msg)
	}
}

// gatewayCheck runs `hopseal check -o json` and returns the result and
// message of its Gateway API check.
func gatewayCheck(t *testing.T, kubeconfig string) (result, message string) {
	t.Helper()
	out, _ := testenv.Run(t, "", testenv.Binary(t), "check", "-o", "json", "--kubeconfig", kubeconfig)
	var r struct {
		Categories []struct {
			Checks []struct{ Description, Result, Message string }
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("hopseal check -o json: %v\n%s", err, out)
	}
	for _, cat := range r.Categories {
		for _, ch := range cat.Checks {
			if ch.Description == "Gateway API CRDs are installed" {
				return ch.Result, ch.Message
			}
		}
	}
	t.Fatalf("hopseal check has no Gateway API check:\n%s", out)
	return "", ""
}
