package cluster

import (
	"fmt"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/kube/check"
)

// Rules of the certificate checks.
const (
	RuleCAMissing       = "cluster/ca-missing"
	RuleCertUnreadable  = "cluster/cert-unreadable"
	RuleCertExpired     = "cluster/cert-expired"
	RuleCertNotYetValid = "cluster/cert-not-yet-valid"
	RuleCertExpiring    = "cluster/cert-expiring"
	RuleCertWeak        = "cluster/cert-weak-crypto"
	RuleChainBroken     = "cluster/ca-chain-broken"
	RuleBundleStale     = "cluster/trust-bundle-stale"
	RuleLeafLifetime    = "cluster/leaf-lifetime"
	RuleTrustInventory  = "cluster/trust-inventory"
)

var (
	pkiControls    = []audit.Control{audit.NISTSC12, audit.NISTSC17, audit.PCI421}
	cryptoControls = []audit.Control{audit.NISTSC13, audit.PCI421}
	rotateFix      = "rotate the CA: give the controller a new root (--root-ca-secret, Helm value ca.rootSecretName; older roots stay trusted until they expire), or move the CA Secret away so the controller makes a new one"
)

// certFindings judges every certificate of the inventory, the chain of the
// signing CA, the trust bundle copies and the workload certificates'
// lifetime, and records the inventory itself.
func certFindings(v *view, m *caMaterial) []audit.Finding {
	ns := v.o.HopsealNamespace
	if v.s.CA == nil && len(v.s.Bundles) == 0 {
		return []audit.Finding{finding(RuleCAMissing, audit.Medium, ns+": hopseal's CA not found", subject("Namespace", "", ns), pkiControls,
			"install hopseal (hopseal install | kubectl apply -f -), or point --hopseal-namespace at its control plane",
			fmt.Sprintf("no CA Secret and no ConfigMap %s in %s", bundleName, ns))}
	}
	var out []audit.Finding
	for _, p := range m.set.problems {
		out = append(out, finding(RuleCertUnreadable, audit.High, "unreadable certificates", subject("Certificate", ns, ""), pkiControls,
			"restore the object from a backup, or let the controller rewrite it", p))
	}
	for i := range m.set.inv.Certificates {
		out = append(out, certInfoFindings(&m.set.inv.Certificates[i], v.now)...)
	}
	if len(m.chain) > 0 && len(m.roots) > 0 {
		if err := chainOK(m.chain, m.roots, v.now); err != nil {
			out = append(out, finding(RuleChainBroken, audit.High, "the signing CA does not chain to the trust roots", certSubject(m.chain[0].Subject.String(), ns),
				pkiControls, "workloads reject what it signs; "+rotateFix, "issued by "+m.chain[len(m.chain)-1].Issuer.String(), err.Error()))
		}
	}
	out = append(out, staleBundles(v, m)...)
	if f, ok := leafLifetime(v, m); ok {
		out = append(out, f)
	}
	return append(out, inventoryFinding(m.set.inv))
}

func certSubject(name, ns string) audit.Subject {
	return audit.Subject{Kind: "Certificate", Namespace: ns, Name: name}
}

func certInfoFindings(ci *CertInfo, now time.Time) []audit.Finding {
	subj := certSubject(ci.Subject, "")
	where := "held in " + strings.Join(ci.Locations, "; ")
	name := fmt.Sprintf("%s %q", ci.Role, ci.Subject)
	var out []audit.Finding
	c := ci.cert
	switch {
	case now.After(c.NotAfter):
		out = append(out, finding(RuleCertExpired, audit.Critical, fmt.Sprintf("%s expired %d days ago", name, -ci.DaysLeft), subj, pkiControls,
			rotateFix+"; remove expired roots from the bundle", "not after "+ci.NotAfter, where))
	case now.Before(c.NotBefore):
		out = append(out, finding(RuleCertNotYetValid, audit.High, name+" is not valid yet", subj, pkiControls,
			"check the clocks of the machine that made it and of the cluster", "not before "+ci.NotBefore, where))
	case c.NotAfter.Sub(now) < check.ExpiryWarning:
		out = append(out, finding(RuleCertExpiring, audit.High, fmt.Sprintf("%s expires in %d days", name, ci.DaysLeft), subj, pkiControls,
			rotateFix+" before then", "not after "+ci.NotAfter, where))
	}
	if weak := weakCrypto(c, ci.KeyAlgorithm, ci.KeyBits); weak != "" {
		out = append(out, finding(RuleCertWeak, audit.High, name+": "+weak, subj, cryptoControls, rotateFix+" with a stronger key", where))
	}
	return out
}

// staleBundles compares the control plane's trust bundle with the CA
// Secret's roots, and each namespace's copy with the control plane's.
func staleBundles(v *view, m *caMaterial) []audit.Finding {
	ns := v.o.HopsealNamespace
	var out []audit.Finding
	stale := func(cmNS string, ev string) {
		out = append(out, finding(RuleBundleStale, audit.Medium, cmNS+"/"+bundleName+": trust bundle out of date", audit.Subject{Kind: "ConfigMap", Namespace: cmNS, Name: bundleName},
			pkiControls, "the controller's leader rewrites it on every change; if it stays stale, see kubectl -n "+ns+" logs deploy/"+check.Controller, ev))
	}
	ref, ok := m.bundles[ns]
	if !ok {
		return nil
	}
	if v.s.CA != nil && len(m.roots) > 0 && !sameCerts(ref, m.roots) {
		stale(ns, fmt.Sprintf("holds %d certificates and the CA Secret's ca.crt %d, not the same ones", len(ref), len(m.roots)))
	}
	for _, other := range m.bundleNS {
		if other != ns && !sameCerts(m.bundles[other], ref) {
			stale(other, "differs from "+ns+"/"+bundleName)
		}
	}
	return out
}

// leafLifetime flags a controller issuing workload certificates for longer
// than the bound.
func leafLifetime(v *view, m *caMaterial) (audit.Finding, bool) {
	flag := m.set.inv.LeafLifetime
	ttl, err := time.ParseDuration(flag)
	if flag == "" || err != nil || ttl <= v.o.MaxLeafLifetime {
		return audit.Finding{}, false // unknown, or refused by the controller at start
	}
	ns := v.o.HopsealNamespace
	return finding(RuleLeafLifetime, audit.Medium, fmt.Sprintf("workload certificates live %s, over the %s bound", ttl, v.o.MaxLeafLifetime),
		audit.Subject{Kind: "Deployment", Namespace: ns, Name: check.Controller}, pkiControls,
		fmt.Sprintf("set the controller's --svid-ttl (Helm value ca.svidTTL) to %s or less, so a stolen key serves for less time", v.o.MaxLeafLifetime),
		fmt.Sprintf("Deployment %s/%s: --svid-ttl %s", ns, check.Controller, flag)), true
}

// inventoryFinding records every trusted certificate and key (Info).
func inventoryFinding(inv Inventory) audit.Finding {
	var ev []string
	for _, c := range inv.Certificates {
		left := fmt.Sprintf("%d days left", c.DaysLeft)
		if c.DaysLeft < 0 {
			left = fmt.Sprintf("expired %d days ago", -c.DaysLeft)
		}
		ev = append(ev, fmt.Sprintf("%s %q sha256:%s %s %d bits, %s to %s (%s), in %s",
			c.Role, c.Subject, c.SHA256[:16], c.KeyAlgorithm, c.KeyBits, c.NotBefore[:10], c.NotAfter[:10], left, strings.Join(c.Locations, "; ")))
	}
	for _, k := range inv.PrivateKeys {
		ev = append(ev, "private key in "+k)
	}
	if inv.LeafLifetime != "" {
		ev = append(ev, "workload certificates live "+inv.LeafLifetime)
	}
	return finding(RuleTrustInventory, audit.Info, fmt.Sprintf("%d trusted certificates and %d private keys", len(inv.Certificates), len(inv.PrivateKeys)),
		subject("Cluster", "", "trust"), []audit.Control{audit.PCI4211, audit.NISTSC12, audit.NISTSC17}, "", ev...)
}
