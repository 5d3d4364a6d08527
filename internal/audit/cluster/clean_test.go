package cluster_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/cluster"
	"github.com/hopseal/hopseal/internal/kube/castate"
)

// TestCleanCluster: a meshed, strict, default-deny cluster on covered
// nodes, with a CA made by hopseal's own castate, yields only Info.
func TestCleanCluster(t *testing.T) {
	e := newKubeEnv(t)
	cp := e.k.Namespace(t, "audit-cp-", nil)
	app := e.k.Namespace(t, "audit-app-", map[string]string{"hopseal.io/inject": "enabled"})
	e.apply(t, "testdata/clean.yaml", map[string]string{"CP": cp, "APP": app, "NODE": cp})
	auth, err := castate.LoadOrCreate(ctx(t), castate.Options{Secrets: e.cs.CoreV1(), Namespace: cp,
		TrustDomain: spiffeid.RequireTrustDomainFromString("clean.test")})
	if err != nil {
		t.Fatal(err)
	}
	e.createBundle(t, cp, auth.Roots...)
	e.createBundle(t, app, auth.Roots...)

	res, _ := e.scan(t, cluster.Options{Namespaces: []string{cp, app}, HopsealNamespace: cp, NodeSelector: "audit-run=" + cp})

	if audit.AtLeast(res.Findings, audit.Low) {
		t.Error("a clean cluster has findings above Info")
	}
	sameFindings(t, res.Findings, []want{
		{cluster.RuleTrustInventory, audit.Info, "Cluster", "", "trust"},
		{cluster.RuleNodeHardware, audit.Info, "Cluster", "", "nodes"},
	})

	d := res.Data
	if c, _ := d.Reachability.At(app, app); c.Reach != cluster.ReachSome || c.Ports != "TCP 8080" {
		t.Errorf("reachability within %s: %+v, want web → api on TCP 8080 only", app, c)
	}
	if d.Nodes.Pairs != 1 || d.Nodes.Covered != 1 {
		t.Errorf("node pairs %d, covered %d", d.Nodes.Pairs, d.Nodes.Covered)
	}
	inv := d.Trust
	if len(inv.Certificates) != 2 || inv.Certificates[0].Role != cluster.RoleRoot || inv.Certificates[1].Role != cluster.RoleSigning {
		t.Fatalf("inventory %+v, want the root and the signing CA", inv.Certificates)
	}
	root := inv.Certificates[0]
	if root.KeyAlgorithm != "ECDSA P-256" || root.KeyBits != 256 || root.SHA256 != sha256Of(auth.Roots[0].Raw) || len(root.Locations) != 4 {
		t.Errorf("root %+v: want ECDSA P-256, its fingerprint, kept in ca.crt, root.crt and two bundles", root)
	}
	if want := int((10 * 365 * 24 * time.Hour) / (24 * time.Hour)); root.LifetimeDays != want {
		t.Errorf("root lifetime %d days, want %d", root.LifetimeDays, want)
	}
	if len(inv.PrivateKeys) != 2 || inv.LeafLifetime != "1h" {
		t.Errorf("private keys %v, leaf lifetime %q", inv.PrivateKeys, inv.LeafLifetime)
	}
	for _, ns := range d.Namespaces {
		if ns.Name == app && (ns.Meshed != 2 || !ns.Injection || !ns.DefaultDenyIngress || !ns.DefaultDenyEgress) {
			t.Errorf("namespace summary %+v", ns)
		}
	}
}

func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
