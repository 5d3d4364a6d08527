package castate_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/kube/castate"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
)

const rootSecret = "hopseal-ca-root"

func withRoot(o castate.Options) castate.Options {
	o.RootSecret = rootSecret
	return o
}

// userCA is a CA of the user's own PKI.
type userCA struct {
	cert   *x509.Certificate
	key    crypto.Signer
	keyPEM []byte // PKCS#8
}

// newCA makes a CA valid for a year around now, signed by parent (nil:
// self-signed), with change (if any) applied to its template.
func newCA(t *testing.T, now time.Time, cn string, parent *userCA, change func(*x509.Certificate)) *userCA {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return signCA(t, now, cn, key, parent, change)
}

func signCA(t *testing.T, now time.Time, cn string, key crypto.Signer, parent *userCA, change func(*x509.Certificate)) *userCA {
	t.Helper()
	serial, err := pki.NewSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{Organization: []string{"Example Corp"}, CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	if change != nil {
		change(tmpl)
	}
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &userCA{cert: cert, key: key, keyPEM: keyPEM}
}

// secretData is a root Secret for c: tls.crt, tls.key and, if bundle is
// given, ca.crt.
func (c *userCA) secretData(bundle []*x509.Certificate) map[string][]byte {
	d := map[string][]byte{"tls.crt": pki.EncodeCerts(c.cert), "tls.key": c.keyPEM}
	if bundle != nil {
		d["ca.crt"] = pki.EncodeCerts(bundle...)
	}
	return d
}

func pemKey(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// Each case changes one thing from a self-signed P-256 root with a PKCS#8 key.
func TestUserRoot(t *testing.T) {
	now := time.Now()
	root := newCA(t, now, "corp root", nil, nil)
	inter := newCA(t, now, "corp intermediate", root, nil)
	other := newCA(t, now, "corp next root", nil, nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaRoot := signCA(t, now, "corp RSA root", rsaKey, nil, nil)
	ecDER, err := x509.MarshalECPrivateKey(root.key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   map[string][]byte
		issuer *userCA
		roots  []*x509.Certificate
		links  []*x509.Certificate
	}{
		{"self-signed root", root.secretData(nil), root, []*x509.Certificate{root.cert}, nil},
		{"EC key in SEC 1 form", with(root.secretData(nil), "tls.key", pemKey("EC PRIVATE KEY", ecDER)), root, []*x509.Certificate{root.cert}, nil},
		{"RSA root with a PKCS#1 key", with(rsaRoot.secretData(nil), "tls.key", pemKey("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))),
			rsaRoot, []*x509.Certificate{rsaRoot.cert}, nil},
		{"intermediate, its root in ca.crt", inter.secretData([]*x509.Certificate{root.cert}), inter,
			[]*x509.Certificate{root.cert}, []*x509.Certificate{inter.cert}},
		{"intermediate followed by its root in tls.crt", with(inter.secretData(nil), "tls.crt", pki.EncodeCerts(inter.cert, root.cert)), inter,
			[]*x509.Certificate{root.cert}, []*x509.Certificate{inter.cert}},
		{"two roots in ca.crt", root.secretData([]*x509.Certificate{root.cert, other.cert}), root,
			[]*x509.Certificate{root.cert, other.cert}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.now = now
			e.put(rootSecret, tt.data)
			auth := e.mustLoad(withRoot(e.opts()))
			if !slices.EqualFunc(auth.Roots, tt.roots, (*x509.Certificate).Equal) {
				t.Fatalf("bundle has %d roots, want the user's %d", len(auth.Roots), len(tt.roots))
			}
			if !slices.EqualFunc(auth.Intermediates, tt.links, (*x509.Certificate).Equal) {
				t.Fatalf("chain has %d intermediates after the signing CA, want %d", len(auth.Intermediates), len(tt.links))
			}
			if err := auth.Signing.CheckSignatureFrom(tt.issuer.cert); err != nil {
				t.Fatalf("signing CA not signed by the user's CA: %v", err)
			}
			opensslVerify(t, auth.Roots, e.issue(auth))
			stored := e.secret(castate.DefaultName).Data
			if _, ok := stored["root.key"]; ok {
				t.Fatal("the CA Secret holds a root key although the root is the user's")
			}
			for k, v := range stored {
				if strings.Contains(string(v), string(tt.data["tls.key"])) {
					t.Fatalf("the CA Secret's %s holds the user's key", k)
				}
			}
		})
	}
}

func with(d map[string][]byte, key string, v []byte) map[string][]byte {
	d = maps.Clone(d)
	d[key] = v
	return d
}

// opensslVerify checks the chain hopseal would send against its bundle with
// openssl, as a peer outside Go would.
func opensslVerify(t *testing.T, roots, chain []*x509.Certificate) {
	t.Helper()
	testenv.RequireTool(t, "openssl")
	dir := t.TempDir()
	files := map[string][]byte{"roots.pem": pki.EncodeCerts(roots...), "leaf.pem": pki.EncodeCerts(chain[0]), "chain.pem": pki.EncodeCerts(chain[1:]...)}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, "roots.pem"),
		"-untrusted", filepath.Join(dir, "chain.pem"), filepath.Join(dir, "leaf.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

// Each case changes one thing from a valid user root; the error names the
// Secret and the key and says what is wrong, and no CA Secret is made.
func TestUserRootRejects(t *testing.T) {
	now := time.Now()
	root := newCA(t, now, "corp root", nil, nil)
	inter := newCA(t, now, "corp intermediate", root, nil)
	stranger := newCA(t, now, "unrelated root", nil, nil)
	caWith := func(change func(*x509.Certificate)) map[string][]byte {
		return newCA(t, now, "corp root", nil, change).secretData(nil)
	}
	tests := []struct {
		name    string
		data    map[string][]byte // nil: no Secret at all
		wantErr string
	}{
		{"Secret missing", nil, "named as the user-supplied CA, does not exist"},
		{"tls.crt missing", without(root.secretData(nil), "tls.crt"), "key tls.crt: missing"},
		{"tls.key missing", without(root.secretData(nil), "tls.key"), "key tls.key: missing"},
		{"tls.key holds a certificate", with(root.secretData(nil), "tls.key", pki.EncodeCerts(root.cert)), `key tls.key: PEM block "CERTIFICATE" is not a private key`},
		{"tls.key of another CA", with(root.secretData(nil), "tls.key", stranger.keyPEM), "key tls.key: does not match the certificate in tls.crt"},
		{"not a CA", caWith(func(c *x509.Certificate) { c.IsCA = false }), "key tls.crt: not a CA certificate"},
		{"no basic constraints", caWith(func(c *x509.Certificate) { c.BasicConstraintsValid, c.IsCA = false, false }), "key tls.crt: not a CA certificate"},
		{"key usage without keyCertSign", caWith(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }), "lacks keyCertSign"},
		{"path length 0", caWith(func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 0, true }), "path length 0 forbids"},
		{"expired", caWith(func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour) }), "expired at"},
		{"not yet valid", caWith(func(c *x509.Certificate) { c.NotBefore = now.Add(time.Hour) }), "not valid before"},
		{"intermediate without its root", inter.secretData(nil), "key tls.crt: does not end at a self-signed root; add the root as ca.crt"},
		{"ca.crt of an unrelated root", inter.secretData([]*x509.Certificate{stranger.cert}), "key tls.crt: does not chain to a root in ca.crt"},
		{"name constraints exclude the trust domain", caWith(func(c *x509.Certificate) { c.PermittedURIDomains = []string{"other.org"} }),
			"key tls.crt: this CA cannot issue SVIDs of trust domain example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.now = now
			if tt.data != nil {
				e.put(rootSecret, tt.data)
			}
			_, err := e.load(withRoot(e.opts()))
			t.Log(err)
			ref := "Secret " + e.ns + "/" + rootSecret
			if err == nil || !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadOrCreate = %v, want an error naming %s and containing %q", err, ref, tt.wantErr)
			}
			noKeyMaterial(t, err, root.keyPEM, stranger.keyPEM, tt.data["tls.key"])
			if _, err := e.cs.CoreV1().Secrets(e.ns).Get(kctx(t), castate.DefaultName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("a CA Secret exists after the user root was refused: %v", err)
			}
		})
	}
}

func without(d map[string][]byte, key string) map[string][]byte {
	d = maps.Clone(d)
	delete(d, key)
	return d
}

// Naming a user root for a CA that has a Secret rotates it to that root:
// the old root stays in the bundle, so SVIDs issued under it still verify,
// until it expires.
func TestRotationToUserRoot(t *testing.T) {
	t.Run("old root kept", func(t *testing.T) {
		e := newEnv(t)
		old := e.mustLoad(e.opts())
		oldSVID := e.issue(old)
		root := newCA(t, e.now, "corp root", nil, nil)
		e.put(rootSecret, root.secretData(nil))
		rotated := e.mustLoad(withRoot(e.opts()))
		if want := []*x509.Certificate{root.cert, old.Roots[0]}; !slices.EqualFunc(rotated.Roots, want, (*x509.Certificate).Equal) {
			t.Fatalf("bundle after the rotation has %d roots, want the user's then the old one", len(rotated.Roots))
		}
		if err := rotated.Signing.CheckSignatureFrom(root.cert); err != nil {
			t.Fatalf("signing CA after the rotation: %v", err)
		}
		if _, err := pki.VerifySVID(oldSVID, x509bundle.FromX509Authorities(td, rotated.Roots), x509.ExtKeyUsageClientAuth, e.now); err != nil {
			t.Fatalf("an SVID of the old root no longer verifies: %v", err)
		}
		e.issue(rotated)
		if _, ok := e.secret(castate.DefaultName).Data["root.key"]; ok {
			t.Fatal("the generated root's key stayed in the Secret after the rotation")
		}
		for _, o := range []castate.Options{withRoot(e.opts()), e.opts()} {
			if again := e.mustLoad(o); !sameAuthority(again, rotated) {
				t.Fatalf("a later start (root secret %q) changed the CA again", o.RootSecret)
			}
		}
	})
	t.Run("expired old root dropped", func(t *testing.T) {
		e := newEnv(t)
		o := e.opts()
		o.RootTTL, o.SigningTTL = 2*time.Hour, time.Hour
		e.mustLoad(o)
		e.now = e.now.Add(3 * time.Hour) // both the old root and its signing CA expired
		root := newCA(t, e.now, "corp root", nil, nil)
		e.put(rootSecret, root.secretData(nil))
		rotated := e.mustLoad(withRoot(e.opts()))
		if len(rotated.Roots) != 1 || !rotated.Roots[0].Equal(root.cert) {
			t.Fatalf("bundle has %d roots, want only the user's", len(rotated.Roots))
		}
		e.issue(rotated)
	})
	t.Run("another trust domain never replaced", func(t *testing.T) {
		e := newEnv(t)
		o := e.opts()
		o.TrustDomain = spiffeid.RequireTrustDomainFromString("other.org")
		e.mustLoad(o)
		before := e.secret(castate.DefaultName).ResourceVersion
		e.put(rootSecret, newCA(t, e.now, "corp root", nil, nil).secretData(nil))
		if _, err := e.load(withRoot(e.opts())); err == nil || !strings.Contains(err.Error(), `trust domain "other.org", not "example.org"`) {
			t.Fatalf("LoadOrCreate = %v, want a trust domain error", err)
		}
		if e.secret(castate.DefaultName).ResourceVersion != before {
			t.Fatal("the Secret of another trust domain was changed")
		}
	})
}
