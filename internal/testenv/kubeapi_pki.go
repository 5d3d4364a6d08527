package testenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// kubePKI is everything the test cluster's TLS and tokens need, made fresh
// for each cluster: nothing is shared with other runs.
type kubePKI struct {
	caPEM                   []byte // cluster CA: signs the serving and client certs
	servingPEM, servingKey  []byte // kube-apiserver's serving cert (127.0.0.1, localhost, in-cluster names)
	adminPEM, adminKey      []byte // client cert CN=hopseal-test-admin, O=system:masters
	saSigningKey, saPublicK []byte // service-account token signing key pair (ES256)
}

// kubeServiceIP is the first address of kubeServiceCIDR: the in-cluster
// address of the "kubernetes" Service, which the serving cert also names.
const (
	kubeServiceCIDR = "10.96.0.0/16"
	kubeServiceIP   = "10.96.0.1"
	kubeAdminUser   = "hopseal-test-admin"
)

func newKubePKI() (*kubePKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := kubeCertTemplate("hopseal-test-kube-ca")
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &kubePKI{caPEM: pemBlock("CERTIFICATE", caDER)}

	serving := kubeCertTemplate("kube-apiserver")
	serving.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	serving.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	serving.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.ParseIP(kubeServiceIP)}
	if p.servingPEM, p.servingKey, err = issueKubeCert(serving, ca, caKey); err != nil {
		return nil, err
	}

	admin := kubeCertTemplate(kubeAdminUser)
	admin.Subject.Organization = []string{"system:masters"}
	admin.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if p.adminPEM, p.adminKey, err = issueKubeCert(admin, ca, caKey); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if p.saSigningKey, err = keyPEM(saKey); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	p.saPublicK = pemBlock("PUBLIC KEY", pub)
	return p, nil
}

func kubeCertTemplate(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour), // tolerate clock skew between steps
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func issueKubeCert(tmpl, ca *x509.Certificate, caKey crypto.Signer) (certPEM, key []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", tmpl.Subject.CommonName, err)
	}
	key, err = keyPEM(k)
	return pemBlock("CERTIFICATE", der), key, err
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// write puts the files kube-apiserver reads into dir and returns their paths
// by flag name.
func (p *kubePKI) write(dir string) (map[string]string, error) {
	files := map[string][]byte{
		"client-ca-file":                   p.caPEM,
		"tls-cert-file":                    p.servingPEM,
		"tls-private-key-file":             p.servingKey,
		"service-account-key-file":         p.saPublicK,
		"service-account-signing-key-file": p.saSigningKey,
	}
	paths := map[string]string{}
	for flag, b := range files {
		paths[flag] = filepath.Join(dir, flag+".pem")
		if err := os.WriteFile(paths[flag], b, 0o600); err != nil {
			return nil, err
		}
	}
	return paths, nil
}
