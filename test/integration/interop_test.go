package integration_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
)

// testWorkloadAPI: go-spiffe's own client fetches the proxy's current SVID
// and bundle from `workload_api.socket`.
func testWorkloadAPI(t *testing.T, m *mesh) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	addr := workloadapi.WithAddr("unix://" + m.wlSock)
	svid, err := workloadapi.FetchX509SVID(ctx, addr)
	if err != nil {
		t.Fatalf("FetchX509SVID from the proxy's Workload API: %v", err)
	}
	if svid.ID.String() != serverID {
		t.Errorf("Workload API SVID is %s, want %s", svid.ID, serverID)
	}
	serials := m.server.Serials()
	if got := pki.SerialString(svid.Certificates[0].SerialNumber); got != serials[len(serials)-1] {
		t.Errorf("Workload API serves serial %s, the proxy's current SVID is %s", got, serials[len(serials)-1])
	}
	bundles, err := workloadapi.FetchX509Bundles(ctx, addr)
	if err != nil {
		t.Fatalf("FetchX509Bundles: %v", err)
	}
	id, _, err := x509svid.Verify(svid.Certificates, bundles)
	if err != nil || id.String() != serverID {
		t.Errorf("SVID from the Workload API does not verify against its bundle: %v (id %s)", err, id)
	}
	want := loadBundle(t, m.ca.BundleFile)
	got, err := bundles.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString(trustDomain))
	if err != nil || !got.Equal(want) {
		t.Errorf("Workload API bundle differs from `hopseal ca bundle` (err %v)", err)
	}
}

// testOpenSSLVerify: openssl accepts an issued SVID only with the signing
// CA as intermediate and the CA's own bundle as trust anchor.
func testOpenSSLVerify(t *testing.T, m *mesh) {
	testenv.RequireTool(t, "openssl")
	leaf := filepath.Join(m.dir, "client-data", "svid.pem")
	signing := filepath.Join(m.ca.StateDir, "signing.crt")
	other := testenv.StartCA(t, testenv.CAOptions{TrustDomain: "other.local"})
	cases := []struct {
		name, bundle, untrusted, want string
		ok                            bool
	}{
		{"bundle and signing CA", m.ca.BundleFile, signing, leaf + ": OK", true},
		{"no signing CA", m.ca.BundleFile, "", "unable to get local issuer certificate", false},
		{"another CA's bundle", other.BundleFile, signing, "unable to get local issuer certificate", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"verify", "-CAfile", c.bundle}
			if c.untrusted != "" {
				args = append(args, "-untrusted", c.untrusted)
			}
			out, err := testenv.Run(t, m.dir, "openssl", append(args, leaf)...)
			if (err == nil) != c.ok || !strings.Contains(out, c.want) {
				t.Errorf("openssl %s: err=%v, want ok=%v and %q in:\n%s", strings.Join(args, " "), err, c.ok, c.want, out)
			}
		})
	}
}

// testOpenSSLText: the SVID as openssl prints it has exactly one URI SAN
// (the SPIFFE ID), Digital Signature only, and server+client auth EKU.
func testOpenSSLText(t *testing.T, m *mesh) {
	testenv.RequireTool(t, "openssl")
	out, err := testenv.Run(t, m.dir, "openssl", "x509", "-noout", "-text", "-in", filepath.Join(m.dir, "server-data", "svid.pem"))
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	if uris := regexp.MustCompile(`URI:\S+`).FindAllString(out, -1); len(uris) != 1 || uris[0] != "URI:"+serverID {
		t.Errorf("URI SANs = %v, want exactly [URI:%s]", uris, serverID)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`X509v3 Key Usage: critical\s+Digital Signature\n`),
		regexp.MustCompile(`X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n`),
		regexp.MustCompile(`X509v3 Basic Constraints: critical\s+CA:FALSE`),
	}
	for _, re := range want {
		if !re.MatchString(out) {
			t.Errorf("openssl x509 -text lacks %q:\n%s", re, out)
		}
	}
	for _, bad := range []string{"Certificate Sign", "CRL Sign", "DNS:", "IP Address:"} {
		if strings.Contains(out, bad) {
			t.Errorf("SVID has %q; a workload SVID must not", bad)
		}
	}
}

// serverCert is the leaf openssl s_client printed as "Server certificate".
func serverCert(t *testing.T, out string) *x509.Certificate {
	t.Helper()
	i := strings.Index(out, "Server certificate")
	if i < 0 {
		t.Fatalf("s_client printed no server certificate:\n%s", out)
	}
	block, _ := pem.Decode([]byte(out[i:]))
	if block == nil {
		t.Fatalf("s_client's server certificate is not PEM:\n%s", out)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
