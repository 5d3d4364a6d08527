package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/wire"
)

// Two injected pods talk through their proxies with the identities of
// their service accounts; every byte between them is TLS; kubelet probes
// reach the app through the proxy's admin port; a policy applied to the
// cluster is enforced within 2 seconds, without restarting a proxy.
func TestMeshOnKubernetes(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t, map[string]string{inject.LabelInject: inject.Enabled})
	c.serviceAccount(t, ns, "web")
	c.serviceAccount(t, ns, "orders")
	capture := testenv.StartCapture(t, c.net.Bridge, "tcp")
	web := c.run(t, appPod(ns, "web", "web"))
	orders := c.run(t, appPod(ns, "orders", "orders"))

	// mTLS with the expected identities, no app configuration.
	marker := "/orders/secret-marker-4711"
	body, err := web.get(orders, marker)
	if err != nil || body != "orders "+marker {
		t.Fatalf("web → orders: %q, %v; want orders' answer", body, err)
	}
	in := orders.proxy.WaitLogMatch(t, "connection", 10*time.Second, func(l map[string]any) bool { return l["direction"] == "inbound" })
	out := web.proxy.WaitLogMatch(t, "connection", 10*time.Second, func(l map[string]any) bool { return l["direction"] == "outbound" })
	if in["peer_id"] != spiffe(ns, "web") || in["security"] != "mutual_tls" || in["tls_version"] != "TLS 1.3" {
		t.Errorf("orders' proxy saw %v; want mTLS 1.3 from %s", in, spiffe(ns, "web"))
	}
	if out["peer_id"] != spiffe(ns, "orders") {
		t.Errorf("web's proxy reached %v; want %s", out["peer_id"], spiffe(ns, "orders"))
	}

	// On the wire between the pods: TLS records only, no marker.
	conns := capture.WaitConns(t, 15*time.Second, "the request on the wire", func(cs []testenv.TCPConn) bool {
		for _, conn := range testenv.Between(cs, web.Net.IP, orders.Net.IP) {
			for _, s := range conn.Streams() {
				if len(s.Data) > 0 {
					return true
				}
			}
		}
		return false
	})
	capture.Stop(t)
	between := testenv.Between(conns, web.Net.IP, orders.Net.IP)
	if len(between) == 0 {
		t.Fatal("no connection between the pods captured")
	}
	for _, conn := range between {
		for _, s := range conn.Streams() {
			if _, err := wire.ParseTLSRecords(s.Data); err != nil {
				t.Errorf("%s → %s is not TLS records: %v", s.Src, s.Dst, err)
			}
			if strings.Contains(string(s.Data), "secret-marker-4711") {
				t.Errorf("%s → %s carries the marker in plaintext", s.Src, s.Dst)
			}
		}
	}

	// The kubelet's readiness probe, rewritten by the injector, answered
	// by the proxy running the original against the app.
	probe := orders.Container(t, "app").ReadinessProbe.HTTPGet
	resp, err := http.Get(fmt.Sprintf("http://%s:%d%s", orders.Net.IP, probe.Port.IntValue(), probe.Path))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readiness probe %s:%v%s: %v %v; want 200", orders.Net.IP, probe.Port.IntValue(), probe.Path, resp, err)
	}
	resp.Body.Close()

	// Only the service account "billing" may reach orders now.
	if out, err := c.k.Kubectl(t, fmt.Sprintf(`apiVersion: hopseal.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: only-billing, namespace: %s}
spec:
  selector: {matchLabels: {app: orders}}
  from: [{serviceAccount: {name: billing}}]
`, ns), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	applied := time.Now()
	testenv.Eventually(t, 2*time.Second, "web refused by orders' proxy", func() bool {
		_, err := web.get(orders, "/after-policy")
		return err != nil
	})
	t.Logf("policy enforced %v after kubectl apply returned", time.Since(applied).Round(time.Millisecond))
	denied := orders.proxy.WaitLogMatch(t, "connection", 10*time.Second, func(l map[string]any) bool {
		return l["direction"] == "inbound" && l["decision"] == "deny"
	})
	if denied["peer_id"] != spiffe(ns, "web") {
		t.Errorf("denial logged for %v; want %s", denied["peer_id"], spiffe(ns, "web"))
	}
	if orders.proxy.Exited() || web.proxy.Exited() {
		t.Error("a proxy restarted or exited")
	}
}
