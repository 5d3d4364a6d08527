package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/kube/castate"
	"github.com/hopseal/hopseal/internal/kube/check"
	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/pki"
)

// Roles of certificates in the inventory.
const (
	RoleRoot         = "trust root"
	RoleSigning      = "signing CA"   // issues workload certificates
	RoleIntermediate = "intermediate" // between the signing CA and a root
	RoleUserCA       = "user CA"      // the user's CA hopseal's signing CA is issued under
)

// Inventory is every certificate and private key hopseal's trust rests on
// (PCI DSS 4.0 4.2.1.1), and the lifetime of the certificates it issues.
type Inventory struct {
	Certificates []CertInfo `json:"certificates"`
	PrivateKeys  []string   `json:"private_keys"` // where they are kept, e.g. "Secret hopseal-system/hopseal-ca key tls.key"
	// LeafLifetime is the controller's --svid-ttl ("" when unknown), and
	// MaxLeafLifetime the bound it is judged by.
	LeafLifetime    string `json:"leaf_lifetime,omitempty"`
	MaxLeafLifetime string `json:"max_leaf_lifetime"`
}

// CertInfo describes one certificate and everywhere it is kept.
type CertInfo struct {
	Role               string   `json:"role"`
	Subject            string   `json:"subject"`
	Issuer             string   `json:"issuer"`
	Serial             string   `json:"serial"`
	SHA256             string   `json:"sha256"`
	URIs               []string `json:"uris,omitempty"`
	NotBefore          string   `json:"not_before"`
	NotAfter           string   `json:"not_after"`
	LifetimeDays       int      `json:"lifetime_days"`
	DaysLeft           int      `json:"days_left"`
	KeyAlgorithm       string   `json:"key_algorithm"`
	KeyBits            int      `json:"key_bits"`
	SignatureAlgorithm string   `json:"signature_algorithm"`
	Locations          []string `json:"locations"`

	cert *x509.Certificate
}

// certSet builds the inventory, one entry per certificate however many
// places hold it.
type certSet struct {
	inv   Inventory
	index map[string]int // fingerprint → position in inv.Certificates
	now   time.Time
	// problems are certificates that could not be read: where, and why.
	problems []string
}

func (cs *certSet) add(role, location string, c *x509.Certificate) *CertInfo {
	fp := fingerprint(c)
	if i, ok := cs.index[fp]; ok {
		ci := &cs.inv.Certificates[i]
		ci.Locations = append(ci.Locations, location)
		return ci
	}
	alg, bits := keyInfo(c)
	cs.index[fp] = len(cs.inv.Certificates)
	cs.inv.Certificates = append(cs.inv.Certificates, CertInfo{
		Role: role, Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16), SHA256: fp,
		URIs: uris(c), NotBefore: c.NotBefore.UTC().Format(time.RFC3339), NotAfter: c.NotAfter.UTC().Format(time.RFC3339),
		LifetimeDays: days(c.NotAfter.Sub(c.NotBefore)), DaysLeft: days(c.NotAfter.Sub(cs.now)),
		KeyAlgorithm: alg, KeyBits: bits, SignatureAlgorithm: c.SignatureAlgorithm.String(),
		Locations: []string{location}, cert: c,
	})
	return &cs.inv.Certificates[len(cs.inv.Certificates)-1]
}

// parse reads PEM certificates at a location; a failure is noted.
func (cs *certSet) parse(location string, data []byte) []*x509.Certificate {
	certs, err := pki.ParseCerts(data)
	if err != nil {
		cs.problems = append(cs.problems, fmt.Sprintf("%s: %v", location, err))
	}
	return certs
}

// caMaterial is what the CA Secrets and trust bundles hold, parsed.
type caMaterial struct {
	set      *certSet
	roots    []*x509.Certificate // CA Secret ca.crt
	chain    []*x509.Certificate // CA Secret tls.crt: signing CA, then intermediates
	bundles  map[string][]*x509.Certificate
	bundleNS []string // namespaces of bundles, control plane's first
}

func readCA(v *view) *caMaterial {
	m := &caMaterial{set: &certSet{index: map[string]int{}, now: v.now}, bundles: map[string][]*x509.Certificate{}}
	m.set.inv.MaxLeafLifetime = v.o.MaxLeafLifetime.String()
	if ca := v.s.CA; ca != nil {
		loc := func(key string) string { return fmt.Sprintf("Secret %s/%s key %s", ca.Namespace, ca.Name, key) }
		if b, ok := ca.Certs[castate.KeyBundle]; ok {
			m.roots = m.set.parse(loc(castate.KeyBundle), b)
		}
		if b, ok := ca.Certs[castate.KeyCert]; ok {
			m.chain = m.set.parse(loc(castate.KeyCert), b)
		}
		for _, r := range m.roots {
			m.set.add(RoleRoot, loc(castate.KeyBundle), r)
		}
		for i, c := range m.chain {
			role := RoleIntermediate
			if i == 0 {
				role = RoleSigning
			}
			m.set.add(role, loc(castate.KeyCert), c)
		}
		if b, ok := ca.Certs[castate.KeyRootCrt]; ok {
			for _, c := range m.set.parse(loc(castate.KeyRootCrt), b) {
				m.set.add(RoleRoot, loc(castate.KeyRootCrt), c)
			}
		}
		for _, k := range ca.PrivateKeys {
			m.set.inv.PrivateKeys = append(m.set.inv.PrivateKeys, loc(k))
		}
	}
	if u := v.s.RootCA; u != nil {
		loc := func(key string) string { return fmt.Sprintf("Secret %s/%s key %s", u.Namespace, u.Name, key) }
		for _, key := range []string{castate.KeyCert, castate.KeyBundle} {
			if b, ok := u.Certs[key]; ok {
				for _, c := range m.set.parse(loc(key), b) {
					m.set.add(RoleUserCA, loc(key), c)
				}
			}
		}
		for _, k := range u.PrivateKeys {
			m.set.inv.PrivateKeys = append(m.set.inv.PrivateKeys, loc(k))
		}
	}
	for _, cm := range v.s.Bundles {
		m.addBundle(cm)
	}
	if v.s.Controller != nil {
		m.set.inv.LeafLifetime = check.ControllerFlag(v.s.Controller, "--svid-ttl")
		if m.set.inv.LeafLifetime == "" {
			m.set.inv.LeafLifetime = ca.DefaultSVIDTTL.String()
		}
	}
	return m
}

func (m *caMaterial) addBundle(cm corev1.ConfigMap) {
	loc := fmt.Sprintf("ConfigMap %s/%s key %s", cm.Namespace, cm.Name, check.BundleKey)
	certs := m.set.parse(loc, []byte(cm.Data[check.BundleKey]))
	m.bundles[cm.Namespace] = certs
	m.bundleNS = append(m.bundleNS, cm.Namespace)
	for _, c := range certs {
		m.set.add(RoleRoot, loc, c)
	}
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func uris(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return out
}

// keyInfo names a certificate's public key algorithm and size in bits.
func keyInfo(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return c.PublicKeyAlgorithm.String(), 0
}

// weakCrypto says what is too weak in c, or "". A root's own signature is
// never checked by anyone, so it does not count.
func weakCrypto(c *x509.Certificate, alg string, bits int) string {
	switch {
	case alg == "RSA" && bits < 2048:
		return fmt.Sprintf("RSA key of %d bits (use at least 2048, or ECDSA P-256)", bits)
	case c.PublicKeyAlgorithm == x509.ECDSA && bits < 256:
		return fmt.Sprintf("%s key of %d bits (use P-256 or stronger)", alg, bits)
	case c.PublicKeyAlgorithm == x509.DSA:
		return "DSA key (use ECDSA P-256)"
	}
	if selfSigned(c) {
		return ""
	}
	if slices.Contains([]x509.SignatureAlgorithm{x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1}, c.SignatureAlgorithm) {
		return fmt.Sprintf("signed with %s (use SHA-256 or stronger)", c.SignatureAlgorithm)
	}
	return ""
}

// selfSigned: issued by itself, by name and key identifier. (Checking the
// signature would refuse SHA-1, the very case this serves.)
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && (len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId))
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

// chainOK verifies the signing CA against the roots at now.
func chainOK(chain, roots []*x509.Certificate, now time.Time) error {
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(opts)
	return err
}

// sameCerts: a and b hold the same certificates, in any order.
func sameCerts(a, b []*x509.Certificate) bool {
	fa, fb := fingerprints(a), fingerprints(b)
	return slices.Equal(fa, fb)
}

func fingerprints(cs []*x509.Certificate) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, fingerprint(c))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// bundleName is the trust bundle ConfigMap's name, for messages.
const bundleName = inject.BundleConfigMap
