package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/pki"
)

// Each case changes one thing in a valid join-token request.
func TestSignJoinToken(t *testing.T) {
	const public = "join token rejected: unknown, expired or already used"
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	tests := []struct {
		name      string
		change    func(*fixture, *ca.SignRequest)
		wantKind  ca.ErrorKind // 0: issued
		wantMsg   string
		tokenLeft bool // the token can still be redeemed afterwards
	}{
		{name: "baseline", change: func(*fixture, *ca.SignRequest) {}},
		{name: "CSR names the granted ID", change: func(f *fixture, r *ca.SignRequest) {
			r.CSR, _ = newCSR(f.t, &x509.CertificateRequest{URIs: []*url.URL{uri(orders)}})
		}},
		// Attestation comes before the identity check and redeeming a token
		// is one atomic store transaction, so the token is spent. Handing it
		// back would let a leaked token be probed; its holder has just asked
		// for an identity it was not given, and needs a new token anyway.
		{name: "CSR asks for another ID", wantKind: ca.Denied, wantMsg: "attestation grants", change: func(f *fixture, r *ca.SignRequest) {
			r.CSR, _ = newCSR(f.t, &x509.CertificateRequest{URIs: []*url.URL{uri(admin)}})
		}},
		// Malformed CSRs are refused before attestation: the token survives.
		{name: "CSR with a DNS SAN", tokenLeft: true, wantKind: ca.Invalid, wantMsg: "DNS, IP or email", change: func(f *fixture, r *ca.SignRequest) {
			r.CSR, _ = newCSR(f.t, &x509.CertificateRequest{DNSNames: []string{"orders.shop"}})
		}},
		{name: "CSR with a weak key", tokenLeft: true, wantKind: ca.Invalid, wantMsg: "weak", change: func(f *fixture, r *ca.SignRequest) {
			r.CSR = csrWith(f.t, p224, nil)
		}},
		{name: "CSR with two URI SANs", tokenLeft: true, wantKind: ca.Invalid, wantMsg: "exactly one", change: func(f *fixture, r *ca.SignRequest) {
			r.CSR, _ = newCSR(f.t, &x509.CertificateRequest{URIs: []*url.URL{uri(orders), uri(admin)}})
		}},
		{name: "CSR not DER", tokenLeft: true, wantKind: ca.Invalid, wantMsg: "parse CSR", change: func(_ *fixture, r *ca.SignRequest) {
			r.CSR = []byte("-----BEGIN CERTIFICATE REQUEST-----")
		}},
		{name: "unknown attestation type", tokenLeft: true, wantKind: ca.Invalid, wantMsg: `unknown attestation type "k8s_psat"`, change: func(_ *fixture, r *ca.SignRequest) {
			r.Attestation.Type = "k8s_psat"
		}},
		{name: "TTL below minimum", tokenLeft: true, wantKind: ca.Invalid, wantMsg: "below the 5m0s minimum", change: func(_ *fixture, r *ca.SignRequest) {
			r.TTL = 4 * time.Minute
		}},
		{name: "token expired", wantKind: ca.Denied, wantMsg: public, change: func(f *fixture, _ *ca.SignRequest) {
			f.clock.Advance(time.Hour)
		}},
		{name: "token already used", wantKind: ca.Denied, wantMsg: public, change: func(f *fixture, r *ca.SignRequest) {
			if _, err := f.sign(joinRequest(f.t, string(r.Attestation.Payload))); err != nil {
				f.t.Fatal(err)
			}
		}},
		{name: "token unknown", tokenLeft: true, wantKind: ca.Denied, wantMsg: public, change: func(_ *fixture, r *ca.SignRequest) {
			r.Attestation.Payload = []byte("hsjt_" + strings.Repeat("A", 43))
		}},
		{name: "token malformed", tokenLeft: true, wantKind: ca.Denied, wantMsg: "malformed", change: func(_ *fixture, r *ca.SignRequest) {
			r.Attestation.Payload = []byte("not-a-token")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			token := f.token(orders, false)
			req := joinRequest(t, token)
			tt.change(f, &req)
			issued, err := f.sign(req)
			if kind(err) != tt.wantKind || (tt.wantKind == 0) != (err == nil) {
				t.Fatalf("Sign error = %v (kind %d), want kind %d", err, kind(err), tt.wantKind)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Sign error = %q, want it to contain %q", err, tt.wantMsg)
			}
			if err != nil && strings.Contains(err.Error(), attest.HashJoinToken(token)[:8]) {
				t.Errorf("refusal %q names the token's hash", err)
			}
			if err == nil {
				checkIssued(t, f, issued, orders)
			}
			if left := f.redeemable(token); left != tt.tokenLeft {
				t.Errorf("token still redeemable = %v, want %v", left, tt.tokenLeft)
			}
		})
	}
}

// checkIssued verifies an issued SVID as a peer would and checks its shape.
func checkIssued(t *testing.T, f *fixture, issued *ca.Issued, want string) {
	t.Helper()
	if issued.ID.String() != want {
		t.Fatalf("issued %s, want %s", issued.ID, want)
	}
	leaf := issued.Chain[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
		t.Fatalf("leaf URIs = %v, want exactly %s", leaf.URIs, want)
	}
	if !issued.Chain[1].Equal(f.auth.Signing) || !issued.Roots[0].Equal(f.auth.Roots[0]) {
		t.Fatal("chain or roots are not the CA's")
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := pki.VerifySVID(issued.Chain, f.ca.Bundle(), usage, f.clock.Now()); err != nil {
			t.Fatalf("issued SVID does not verify: %v", err)
		}
	}
}

func TestReusableToken(t *testing.T) {
	f := newFixture(t)
	token := f.token(orders, true)
	serials := map[string]bool{}
	for range 3 {
		issued, err := f.sign(joinRequest(t, token))
		if err != nil {
			t.Fatal(err)
		}
		serials[issued.Chain[0].SerialNumber.String()] = true
	}
	if len(serials) != 3 {
		t.Fatalf("%d distinct serials for 3 issuances", len(serials))
	}
	f.clock.Advance(time.Hour)
	if _, err := f.sign(joinRequest(t, token)); kind(err) != ca.Denied {
		t.Fatalf("reusable token after expiry: %v, want Denied", err)
	}
}
