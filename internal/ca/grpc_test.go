package ca_test

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cav1 "github.com/hopseal/hopseal/api/ca/v1"
	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/pki"
)

// svidFrom turns an Issuer response into an SVID for key.
func svidFrom(t *testing.T, resp *cav1.SignX509SVIDResponse, key any) *x509svid.SVID {
	t.Helper()
	chain, err := pki.ParseDERCerts(resp.GetCertChain())
	if err != nil {
		t.Fatal(err)
	}
	svid, err := x509svid.ParseRaw(concat(resp.GetCertChain()), mustPKCS8(t, key))
	if err != nil {
		t.Fatalf("response is not a usable SVID: %v", err)
	}
	if !svid.Certificates[0].Equal(chain[0]) {
		t.Fatal("parsed chain differs")
	}
	return svid
}

func TestIssuerStatusCodes(t *testing.T) {
	f := newFixture(t)
	srv := f.serve()
	anon := f.issuerClient(srv.issuer, nil)

	csr, key := newCSR(t, nil)
	resp, err := anon.SignX509SVID(callCtx(t), &cav1.SignX509SVIDRequest{Csr: csr, Attestation: &cav1.Attestation{Type: "join_token", Payload: []byte(f.token(orders, false))}})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	svid := svidFrom(t, resp, key)
	if resp.GetSpiffeId() != orders || svid.ID.String() != orders {
		t.Fatalf("granted %s / %s, want %s", resp.GetSpiffeId(), svid.ID, orders)
	}
	if roots, _ := pki.ParseDERCerts(resp.GetBundle()); len(roots) != 1 || !roots[0].Equal(f.auth.Roots[0]) {
		t.Fatal("response bundle is not the CA's root")
	}
	renewing := f.issuerClient(srv.issuer, svid)

	tests := []struct {
		name   string
		client cav1.IssuerClient
		req    func() *cav1.SignX509SVIDRequest
		want   codes.Code
		msg    string
	}{
		{name: "join token", client: anon, want: codes.OK, req: func() *cav1.SignX509SVIDRequest { return joinRPC(t, f.token(orders, false)) }},
		{name: "renewal with the SVID as client certificate", client: renewing, want: codes.OK, req: func() *cav1.SignX509SVIDRequest {
			r := joinRPC(t, "")
			r.Attestation = &cav1.Attestation{Type: "x509_svid"}
			return r
		}},
		{name: "renewal without a client certificate", client: anon, want: codes.PermissionDenied, msg: "renewal needs a valid X.509-SVID", req: func() *cav1.SignX509SVIDRequest {
			r := joinRPC(t, "")
			r.Attestation = &cav1.Attestation{Type: "x509_svid"}
			return r
		}},
		{name: "bad CSR", client: anon, want: codes.InvalidArgument, msg: "parse CSR", req: func() *cav1.SignX509SVIDRequest {
			r := joinRPC(t, f.token(orders, false))
			r.Csr = []byte{0x30, 0x03, 0x02, 0x01, 0x01}
			return r
		}},
		{name: "no attestation", client: anon, want: codes.InvalidArgument, msg: "unknown attestation type", req: func() *cav1.SignX509SVIDRequest {
			r := joinRPC(t, "")
			r.Attestation = nil
			return r
		}},
		{name: "TTL below minimum", client: anon, want: codes.InvalidArgument, msg: "minimum", req: func() *cav1.SignX509SVIDRequest {
			r := joinRPC(t, f.token(orders, false))
			r.TtlSeconds = 60
			return r
		}},
		{name: "single-use token redeemed twice", client: anon, want: codes.PermissionDenied, msg: "already used", req: func() *cav1.SignX509SVIDRequest {
			token := f.token(orders, false)
			if _, err := anon.SignX509SVID(callCtx(t), joinRPC(t, token)); err != nil {
				t.Fatal(err)
			}
			return joinRPC(t, token)
		}},
		{name: "unknown token", client: anon, want: codes.PermissionDenied, msg: "join token rejected", req: func() *cav1.SignX509SVIDRequest { return joinRPC(t, "hsjt_nope") }},
		{name: "CSR for another ID", client: anon, want: codes.PermissionDenied, msg: "attestation grants", req: func() *cav1.SignX509SVIDRequest {
			r := joinRPC(t, f.token(orders, false))
			r.Csr, _ = newCSR(t, &x509.CertificateRequest{URIs: []*url.URL{uri(admin)}})
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.SignX509SVID(callCtx(t), tt.req())
			st := status.Convert(err)
			if st.Code() != tt.want || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("status %s %q, want %s containing %q", st.Code(), st.Message(), tt.want, tt.msg)
			}
			if err == nil && resp.GetSpiffeId() != orders {
				t.Fatalf("granted %s, want %s", resp.GetSpiffeId(), orders)
			}
		})
	}
}

func TestIssuerRateLimited(t *testing.T) {
	f := newFixture(t)
	c := f.issuerClient(f.serve().issuer, nil)
	for i := range ca.FailureBurst {
		if _, err := c.SignX509SVID(callCtx(t), joinRPC(t, "hsjt_nope")); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	token := f.token(orders, false)
	_, err := c.SignX509SVID(callCtx(t), joinRPC(t, token))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "retry in") {
		t.Fatalf("after the burst: %s %q, want ResourceExhausted", st.Code(), st.Message())
	}
	if !f.redeemable(token) {
		t.Fatal("rate-limited request spent the token")
	}
}

// Internal causes go to the CA's log; the caller gets a fixed message.
func TestIssuerHidesInternalErrors(t *testing.T) {
	f := newFixture(t)
	c := f.issuerClient(f.serve().issuer, nil)
	token := f.token(orders, false)
	b, err := c.GetBundle(callCtx(t), &cav1.GetBundleRequest{}) // the server is up
	if err != nil || b.GetTrustDomain() != "example.org" || len(b.GetRoots()) != 1 {
		t.Fatalf("GetBundle: %v %v", b, err)
	}
	f.store.Close() // every store access now fails
	_, err = c.SignX509SVID(callCtx(t), joinRPC(t, token))
	st := status.Convert(err)
	if st.Code() != codes.Internal || st.Message() != "internal error; see the CA's log" {
		t.Fatalf("status %s %q, want Internal with the fixed message", st.Code(), st.Message())
	}
	if !strings.Contains(f.log.String(), "database not open") {
		t.Fatalf("internal cause missing from the CA's log:\n%s", f.log)
	}
}

func TestAdminSocket(t *testing.T) {
	f := newFixture(t)
	srv := f.serve()
	adm, err := ca.DialAdmin(srv.adminSock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() })
	token, _, err := adm.CreateJoinToken(callCtx(t), spiffeid.RequireFromString(orders), time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.issuerClient(srv.issuer, nil).SignX509SVID(callCtx(t), joinRPC(t, token)); err != nil {
		t.Fatalf("token from the admin socket: %v", err)
	}
	if _, _, err := adm.CreateJoinToken(callCtx(t), spiffeid.RequireFromString("spiffe://example.org/hopseal/ca"), time.Hour, false); err == nil || !strings.Contains(err.Error(), "cannot be granted") {
		t.Fatalf("token for the CA's identity: %v", err)
	}
	events, err := adm.AuditEvents(callCtx(t))
	if err != nil {
		t.Fatalf("audit over the socket: %v", err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	// The server's own serving certificate is issued and audited first.
	if got := strings.Join(kinds, " "); got != "issued token_created issued" {
		t.Fatalf("audit kinds %q", got)
	}
	certs, err := adm.Certificates(callCtx(t))
	if err != nil || len(certs) != 2 {
		t.Fatalf("certificates: %d %v", len(certs), err)
	}
}

func concat(ders [][]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, d...)
	}
	return out
}

func mustPKCS8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
