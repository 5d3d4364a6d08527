package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/store"
	"github.com/hopseal/hopseal/internal/testenv"
)

const (
	orders = "spiffe://example.org/ns/shop/sa/orders"
	admin  = "spiffe://example.org/ns/shop/sa/admin"
	peer   = "192.0.2.10:40000"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// fixture is a CA on a real state directory and store, with a fake clock.
type fixture struct {
	t     *testing.T
	dir   string
	clock *clock.Fake
	auth  *ca.Authority
	store *store.Store
	ca    *ca.CA
	admin ca.LocalAdmin
	log   *testenv.Buffer
}

type fixtureOptions struct {
	signingTTL time.Duration // 0: the default
	svidTTL    time.Duration // 0: the default
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, fixtureOptions{}) }

func newFixtureWith(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: filepath.Join(t.TempDir(), "state"), clock: clock.NewFake(time.Now()), log: &testenv.Buffer{}}
	if err := ca.Init(f.dir, ca.InitOptions{TrustDomain: td, SigningTTL: o.signingTTL, Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.open(o.svidTTL)
	return f
}

// open loads the state directory and opens the store, as `ca serve` does.
func (f *fixture) open(svidTTL time.Duration) {
	f.t.Helper()
	var err error
	if f.auth, err = ca.Load(f.dir); err != nil {
		f.t.Fatal(err)
	}
	if f.store, err = store.Open(filepath.Join(f.dir, ca.FileDB)); err != nil {
		f.t.Fatal(err)
	}
	st := f.store
	f.t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.NewTextHandler(f.log, nil))
	if f.ca, err = ca.New(ca.Config{Authority: f.auth, Store: f.store, Clock: f.clock, SVIDTTL: svidTTL, Log: logger}); err != nil {
		f.t.Fatal(err)
	}
	f.admin = ca.LocalAdmin{Store: f.store, TrustDomain: td, Clock: f.clock}
}

// token creates a join token for id valid for an hour.
func (f *fixture) token(id string, reusable bool) string {
	f.t.Helper()
	tok, _, err := f.admin.CreateJoinToken(context.Background(), spiffeid.RequireFromString(id), time.Hour, reusable)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// redeemable reports whether a single-use token can still be redeemed, by
// redeeming it in the store directly (so the check itself spends it). Used
// and expired tokens are not redeemable.
func (f *fixture) redeemable(token string) bool {
	f.t.Helper()
	_, err := f.store.UseJoinToken(attest.HashJoinToken(token), f.clock.Now())
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrTokenUsed), errors.Is(err, store.ErrTokenExpired):
		return false
	}
	f.t.Fatalf("redeem token: %v", err)
	return false
}

func (f *fixture) sign(req ca.SignRequest) (*ca.Issued, error) {
	return f.ca.Sign(context.Background(), req)
}

// joinRequest is a valid request: a fresh P-256 CSR without SANs and a token.
func joinRequest(t *testing.T, token string) ca.SignRequest {
	der, _ := newCSR(t, nil)
	return ca.SignRequest{CSR: der, Attestation: attest.Request{Type: attest.TypeJoinToken, Payload: []byte(token)}, Peer: peer}
}

// newCSR returns a CSR from tmpl (nil: no SANs) signed by a new P-256 key.
func newCSR(t *testing.T, tmpl *x509.CertificateRequest) ([]byte, crypto.Signer) {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return csrWith(t, key, tmpl), key
}

func csrWith(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func uri(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// kind is the ErrorKind of a refusal, 0 for success or an internal error.
func kind(err error) ca.ErrorKind {
	var e *ca.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
