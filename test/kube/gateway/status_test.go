package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/kube/gatewayapi"
	"github.com/hopseal/hopseal/internal/kube/gateways"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

// status reads an object's status into out; false when it does not exist.
func (c *cluster) status(t *testing.T, gvr schema.GroupVersionResource, ns, name string, out any) bool {
	t.Helper()
	u, err := c.dyn.Resource(gvr).Namespace(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	raw, _, _ := unstructured.NestedMap(u.Object, "status")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, out); err != nil {
		t.Fatalf("%s %s/%s: status: %v", gvr.Resource, ns, name, err)
	}
	return true
}

// expect is a condition the controller must write: type, status and
// reason, and text its message must hold ("" for any).
type expect struct{ typ, status, reason, says string }

func (e expect) String() string {
	return fmt.Sprintf("%s=%s (%s) %q", e.typ, e.status, e.reason, e.says)
}

func (e expect) in(conds []metav1.Condition, gen int64) bool {
	c := meta.FindStatusCondition(conds, e.typ)
	return c != nil && string(c.Status) == e.status && c.Reason == e.reason && strings.Contains(c.Message, e.says) &&
		(gen == 0 || c.ObservedGeneration == gen)
}

// waitGateway waits until the Gateway's conditions, or one listener's
// (listener != ""), are as expected, and returns its status.
func (c *cluster) waitGateway(t *testing.T, ns, name, listener string, want ...expect) gwv1.GatewayStatus {
	t.Helper()
	var st gwv1.GatewayStatus
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("Gateway %s/%s %s %v", ns, name, listener, want), func() bool {
		st = gwv1.GatewayStatus{}
		if !c.status(t, gateways.Gateways, ns, name, &st) {
			return false
		}
		conds := st.Conditions
		if listener != "" {
			conds = nil
			for _, l := range st.Listeners {
				if string(l.Name) == listener {
					conds = l.Conditions
				}
			}
		}
		for _, w := range want {
			if !w.in(conds, 0) {
				return false
			}
		}
		return true
	})
	return st
}

// waitRoute waits until the route's entry for a parent of hopseal's
// carries the conditions, at the route's generation gen.
func (c *cluster) waitRoute(t *testing.T, gvr schema.GroupVersionResource, ns, name string, gen int64, want ...expect) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%s %s/%s %v", gvr.Resource, ns, name, want), func() bool {
		var st gwv1.RouteStatus
		if !c.status(t, gvr, ns, name, &st) {
			return false
		}
		for _, p := range st.Parents {
			if p.ControllerName != gatewayapi.ControllerName {
				continue
			}
			all := true
			for _, w := range want {
				all = all && w.in(p.Conditions, gen)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// serverCert is a certificate of ca for names, as PEM and as a pair.
func serverCert(t *testing.T, ca *testpki.CA, names ...string) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	tmpl := ca.Leaf("spiffe://" + names[0] + "/unused")
	tmpl.URIs, tmpl.DNSNames, tmpl.ExtKeyUsage = nil, names, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	chain, key := ca.Sign(tmpl)
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pki.EncodeCerts(chain...)
	if pair, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

func roots(ca *testpki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root)
	return p
}
