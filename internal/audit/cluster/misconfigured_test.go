package cluster_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/cluster"
	"github.com/hopseal/hopseal/internal/pki"
)

const day = 24 * time.Hour

// TestMisconfiguredCluster applies every misconfiguration the scan knows
// to a real API server and expects each finding, and no other.
func TestMisconfiguredCluster(t *testing.T) {
	e := newKubeEnv(t)
	cp := e.k.Namespace(t, "audit-cp-", nil)
	bare := e.k.Namespace(t, "audit-bare-", nil)
	mesh := e.k.Namespace(t, "audit-mesh-", map[string]string{"hopseal.io/inject": "enabled"})
	e.apply(t, "testdata/misconfigured.yaml", map[string]string{"CP": cp, "BARE": bare, "MESH": mesh, "NODE": cp})
	certs := misconfiguredCA(t, e, cp, mesh)

	res, snap := e.scan(t, cluster.Options{Namespaces: []string{cp, bare, mesh}, HopsealNamespace: cp, NodeSelector: "audit-run=" + cp})

	H, M, L, I, C := audit.High, audit.Medium, audit.Low, audit.Info, audit.Critical
	sameFindings(t, res.Findings, []want{
		{cluster.RuleLBTLSTerminated, H, "Service", mesh, "lb-terminated"},
		{cluster.RuleLBPlaintext, H, "Service", mesh, "lb-plain"},
		{cluster.RuleLBPlaintext, H, "Service", mesh, "lb-tcp80"},
		{cluster.RuleLBBackendUnknown, L, "Service", mesh, "lb-unknown"},
		{cluster.RuleLBPlaintext, M, "Service", mesh, "lb-strict"},
		{cluster.RuleIngressTLSTerminated, H, "Ingress", mesh, "alb-default"},
		{cluster.RuleIngressPlaintext, H, "Ingress", mesh, "alb-http"},
		{cluster.RuleIngressTLSTerminated, H, "Ingress", mesh, "nginx-tls"},
		{cluster.RuleIngressTLSTerminated, H, "Ingress", mesh, "generic-tls"},
		{cluster.RuleIngressPlaintext, I, "Ingress", mesh, "nginx-meshed"},

		{cluster.RuleNamespaceNotMeshed, H, "Namespace", "", bare},
		{cluster.RulePodMissingProxy, H, "Deployment", mesh, "legacy"},
		{cluster.RulePodOptedOut, M, "Pod", mesh, "optout"},
		{cluster.RuleHostNetwork, M, "Pod", mesh, "hostnet"},
		{cluster.RulePermissiveMode, M, "MTLSPolicy", mesh, "migrating"},
		{cluster.RuleInterceptionExclude, M, "Pod", mesh, "api"},
		{cluster.RuleSystemNamespace, I, "Namespace", "", cp},

		{cluster.RuleNoDefaultDenyIngress, M, "Namespace", "", bare},
		{cluster.RuleNoDefaultDenyEgress, M, "Namespace", "", bare},
		{cluster.RuleNoDefaultDenyIngress, M, "Namespace", "", mesh},
		{cluster.RuleEgressWithoutDNS, L, "Namespace", "", mesh},
		{cluster.RuleAllowAll, M, "NetworkPolicy", mesh, "allow-all"},

		{cluster.RuleCertExpiring, H, "Certificate", "", certs.weak},
		{cluster.RuleCertWeak, H, "Certificate", "", certs.weak},
		{cluster.RuleCertExpired, C, "Certificate", "", certs.expired},
		{cluster.RuleCertNotYetValid, H, "Certificate", "", certs.future},
		{cluster.RuleChainBroken, H, "Certificate", cp, certs.signing},
		{cluster.RuleBundleStale, M, "ConfigMap", cp, "hopseal-trust-bundle"},
		{cluster.RuleBundleStale, M, "ConfigMap", mesh, "hopseal-trust-bundle"},
		{cluster.RuleLeafLifetime, M, "Deployment", cp, "hopseal-controller"},
		{cluster.RuleTrustInventory, I, "Cluster", "", "trust"},

		{cluster.RuleNodeHardware, I, "Cluster", "", "nodes"},
		{cluster.RuleUnmeshedOnUncoveredNode, M, "Node", "", cp + "-a"},
		{cluster.RuleUnmeshedOnUncoveredNode, M, "Node", "", cp + "-c"},
	})

	if f, _ := findingOf(res.Findings, cluster.RuleInterceptionExclude, "api"); !strings.Contains(strings.Join(f.Evidence, "\n"), "exclude-inbound-ports: 9000") {
		t.Errorf("exclusion evidence %q does not name the port", f.Evidence)
	}
	if f, _ := findingOf(res.Findings, cluster.RuleEgressWithoutDNS, mesh); !strings.Contains(strings.Join(f.Evidence, "\n"), "UDP 53") {
		t.Errorf("DNS evidence %q", f.Evidence)
	}
	checkMisconfiguredData(t, res.Data, cp, bare, mesh)
	checkKeysDropped(t, snap, res)
}

type caNames struct{ weak, expired, future, signing string }

// misconfiguredCA stores a CA Secret whose bundle holds a weak root that
// expires soon, an expired root and a root not valid yet, and whose signing
// CA chains to none of them; the control plane's bundle lacks three of
// them and the mesh namespace's copy differs from it.
func misconfiguredCA(t *testing.T, e *kubeEnv, cp, mesh string) caNames {
	now := time.Now()
	good := root(t, "good.test", newKey(t), now, 3650*day)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak := root(t, "weak.test", rsaKey, now, 10*day)
	expired := root(t, "expired.test", newKey(t), now.Add(-400*day), 365*day)
	future := root(t, "future.test", newKey(t), now.Add(10*day), 365*day)
	otherKey, signingKey := newKey(t), newKey(t)
	other := root(t, "other.test", otherKey, now, 3650*day)
	signing, err := pki.NewIntermediate(spiffeid.RequireTrustDomainFromString("good.test"), other, otherKey, signingKey.Public(), now, 365*day)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(signingKey)
	if err != nil {
		t.Fatal(err)
	}
	e.createSecret(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "audit-ca", Namespace: cp}, Type: "hopseal.io/ca",
		Data: map[string][]byte{"ca.crt": pki.EncodeCerts(good, weak, expired, future), "tls.crt": pki.EncodeCerts(signing), "tls.key": keyPEM}})
	e.createBundle(t, cp, good)
	e.createBundle(t, mesh, good, weak)
	return caNames{weak: weak.Subject.String(), expired: expired.Subject.String(), future: future.Subject.String(), signing: signing.Subject.String()}
}

func checkMisconfiguredData(t *testing.T, d cluster.Data, cp, bare, mesh string) {
	t.Helper()
	for _, c := range []struct {
		from, to string
		reach    string
	}{
		{bare, bare, cluster.ReachAll},
		{mesh, bare, cluster.ReachNone}, // mesh denies all egress
		{mesh, mesh, cluster.ReachNone},
		{bare, mesh, cluster.ReachAll}, // web's only policy is allow-all
	} {
		got, ok := d.Reachability.At(c.from, c.to)
		if !ok || got.Reach != c.reach {
			t.Errorf("reachability %s → %s: %+v, want %s", c.from, c.to, got, c.reach)
		}
	}
	if d.Nodes.Pairs != 3 || d.Nodes.Covered != 0 || len(d.Nodes.Nodes) != 3 || d.Nodes.Nodes[2].Hardware != cluster.HardwareUnknown {
		t.Errorf("nodes: %+v", d.Nodes)
	}
	if n := len(d.Trust.Certificates); n != 5 {
		t.Errorf("%d certificates in the inventory, want 5 (4 roots, the signing CA)", n)
	}
	if d.Trust.LeafLifetime != "72h" || d.Trust.MaxLeafLifetime != "24h0m0s" {
		t.Errorf("leaf lifetime %q bound %q", d.Trust.LeafLifetime, d.Trust.MaxLeafLifetime)
	}
	var exposures int
	for _, x := range d.Exposures {
		if x.Namespace == mesh {
			exposures++
		}
	}
	if exposures != 10 {
		t.Errorf("%d exposures, want 5 load balancer ports and 5 Ingress backends", exposures)
	}
}

// checkKeysDropped: the private key never leaves Gather, and the evidence
// names where it is kept.
func checkKeysDropped(t *testing.T, snap *cluster.Snapshot, res cluster.Result) {
	t.Helper()
	if snap.CA == nil || len(snap.CA.PrivateKeys) != 1 || snap.CA.PrivateKeys[0] != "tls.key" {
		t.Fatalf("CA Secret read as %+v", snap.CA)
	}
	if _, ok := snap.CA.Certs["tls.key"]; ok {
		t.Error("the snapshot holds the private key")
	}
	ev, err := res.Evidence("https://cluster.test", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(ev)
	if strings.Contains(string(out), "PRIVATE KEY") || !strings.Contains(string(out), "audit-ca key tls.key") {
		t.Error("the evidence holds a private key, or does not say where the key is kept")
	}
}
