package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// cert signs a CA certificate for pub with signer (itself when parent is
// nil) and sig.
func cert(t *testing.T, cn string, pub crypto.PublicKey, signer crypto.Signer, parent *x509.Certificate, sig x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, SignatureAlgorithm: sig}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWeakCrypto(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaRoot := cert(t, "rsa root", &rsa2048.PublicKey, rsa2048, nil, x509.SHA256WithRSA)
	for _, tc := range []struct {
		name string
		c    *x509.Certificate
		say  string // "" for strong enough
	}{
		{"ECDSA P-256 root", cert(t, "r", &p256.PublicKey, p256, nil, 0), ""},
		{"RSA 2048 root", rsaRoot, ""},
		{"ECDSA P-224 root", cert(t, "r", &p224.PublicKey, p224, nil, 0), "P-224 key of 224 bits"},
		{"RSA 1024 root", cert(t, "r", &rsa1024.PublicKey, rsa1024, nil, 0), "RSA key of 1024 bits"},
		{"root self-signed with SHA-1", cert(t, "r", &rsa2048.PublicKey, rsa2048, nil, x509.SHA1WithRSA), ""},
		{"CA signed with SHA-1", cert(t, "i", &p256.PublicKey, rsa2048, rsaRoot, x509.SHA1WithRSA), "signed with SHA1-RSA"},
		{"CA signed with SHA-256", cert(t, "i", &p256.PublicKey, rsa2048, rsaRoot, x509.SHA256WithRSA), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg, bits := keyInfo(tc.c)
			got := weakCrypto(tc.c, alg, bits)
			if tc.say == "" && got != "" || tc.say != "" && !strings.Contains(got, tc.say) {
				t.Errorf("weakCrypto = %q, want %q", got, tc.say)
			}
		})
	}
}
