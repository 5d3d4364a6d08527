package ca_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/store"
	"github.com/hopseal/hopseal/internal/testpki"
)

func renewRequest(t *testing.T, chain []*x509.Certificate) ca.SignRequest {
	der, _ := newCSR(t, nil)
	return ca.SignRequest{CSR: der, Attestation: attest.Request{Type: attest.TypeX509SVID, PeerCertificates: chain}, Peer: peer}
}

func TestRenewal(t *testing.T) {
	f := newFixture(t)
	first, err := f.sign(joinRequest(t, f.token(orders, false)))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(12 * time.Hour)
	renewed, err := f.sign(renewRequest(t, first.Chain))
	if err != nil {
		t.Fatalf("renewal with a valid SVID: %v", err)
	}
	checkIssued(t, f, renewed, orders)
	if renewed.Chain[0].SerialNumber.Cmp(first.Chain[0].SerialNumber) == 0 {
		t.Fatal("renewal reused the serial")
	}
	if !renewed.Chain[0].NotAfter.After(first.Chain[0].NotAfter) {
		t.Fatal("renewal did not extend the lifetime")
	}

	other := testpki.New(t, "example.org") // same trust domain name, another root
	tests := []struct {
		name  string
		chain []*x509.Certificate
	}{
		{name: "SVID from another CA", chain: other.Issue(orders, time.Hour).Certificates},
		{name: "no client certificate", chain: nil},
		{name: "leaf without its signing CA", chain: first.Chain[:1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.sign(renewRequest(t, tt.chain)); kind(err) != ca.Denied {
				t.Fatalf("renewal: %v, want Denied", err)
			}
		})
	}
	t.Run("expired SVID", func(t *testing.T) {
		f.clock.Advance(13 * time.Hour) // past the first SVID's NotAfter
		if _, err := f.sign(renewRequest(t, first.Chain)); kind(err) != ca.Denied {
			t.Fatalf("renewal with an expired SVID: %v, want Denied", err)
		}
	})
}

// The CA's own identity authenticates the CA to every agent; granting it to
// a workload would let that workload impersonate the CA.
func TestCAIdentityNeverGranted(t *testing.T) {
	f := newFixture(t)
	caID := identity.CA(td)
	if err := ca.CheckTokenRequest(td, caID, time.Hour); err == nil || !strings.Contains(err.Error(), "CA's own identity") {
		t.Fatalf("CheckTokenRequest(CA ID) = %v", err)
	}
	if _, _, err := f.admin.CreateJoinToken(context.Background(), caID, time.Hour, false); err == nil {
		t.Fatal("created a join token for the CA's identity")
	}
	// Even a token planted in the store by other means is refused.
	token, hash, err := attest.NewJoinToken()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	planted := store.JoinToken{Hash: hash, SPIFFEID: caID.String(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := f.store.CreateJoinToken(planted, store.Event{Time: now, Kind: store.EventTokenCreated}); err != nil {
		t.Fatal(err)
	}
	if issued, err := f.sign(joinRequest(t, token)); kind(err) != ca.Denied {
		t.Fatalf("Sign with a token for the CA's identity = %v, %v; want Denied", issued, err)
	}
}

func TestCheckTokenRequest(t *testing.T) {
	id := spiffeid.RequireFromString(orders)
	tests := []struct {
		name    string
		id      spiffeid.ID
		ttl     time.Duration
		wantErr string
	}{
		{name: "baseline", id: id, ttl: time.Hour},
		{name: "other trust domain", id: spiffeid.RequireFromString("spiffe://other.org/ns/shop/sa/orders"), ttl: time.Hour, wantErr: "outside this CA's trust domain"},
		{name: "CA identity", id: identity.CA(td), ttl: time.Hour, wantErr: "cannot be granted"},
		{name: "TTL too short", id: id, ttl: 30 * time.Second, wantErr: "--ttl 30s is too short"},
		{name: "TTL too long", id: id, ttl: ca.MaxTokenTTL + time.Hour, wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ca.CheckTokenRequest(td, tt.id, tt.ttl)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckTokenRequest = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{svidTTL: 2 * time.Hour})
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{name: "default", ttl: 0, want: 2 * time.Hour},
		{name: "shorter than the default", ttl: 30 * time.Minute, want: 30 * time.Minute},
		{name: "minimum", ttl: ca.MinSVIDTTL, want: ca.MinSVIDTTL},
		{name: "above the default is clamped", ttl: 48 * time.Hour, want: 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := joinRequest(t, f.token(orders, false))
			req.TTL = tt.ttl
			issued, err := f.sign(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := issued.Chain[0].NotAfter; !got.Equal(f.clock.Now().Add(tt.want).Truncate(time.Second)) {
				t.Fatalf("NotAfter = %v, want now + %s", got, tt.want)
			}
		})
	}
	if _, err := ca.New(ca.Config{Authority: f.auth, Store: f.store, SVIDTTL: 4 * time.Minute}); err == nil {
		t.Fatal("ca.New accepted a default SVID lifetime below the minimum")
	}
}

// A leaf never outlives the signing CA, and nothing is signed once it expired.
func TestLeafCappedBySigningCA(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{signingTTL: 2 * time.Hour})
	for _, at := range []time.Duration{0, 90 * time.Minute} {
		f.clock.Advance(at)
		issued, err := f.sign(joinRequest(t, f.token(orders, false)))
		if err != nil {
			t.Fatal(err)
		}
		if got := issued.Chain[0].NotAfter; !got.Equal(f.auth.Signing.NotAfter) {
			t.Fatalf("leaf NotAfter %v, want the signing CA's %v", got, f.auth.Signing.NotAfter)
		}
	}
	f.clock.Advance(time.Hour) // past the signing CA's NotAfter
	_, err := f.sign(joinRequest(t, f.token(orders, false)))
	if err == nil || kind(err) != 0 {
		t.Fatalf("Sign after the signing CA expired = %v, want an internal error", err)
	}
}
