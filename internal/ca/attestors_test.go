package ca_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/kube/psat"
	"github.com/hopseal/hopseal/internal/store"
)

// withConfig replaces the fixture's CA by one built from cfg over the same
// authority, store and clock.
func (f *fixture) withConfig(cfg ca.Config) error {
	cfg.Authority, cfg.Store, cfg.Clock = f.auth, f.store, f.clock
	c, err := ca.New(cfg)
	if err == nil {
		f.ca = c
	}
	return err
}

// A CA that refuses x509_svid renewals still admits join tokens.
func TestNoSVIDRenewal(t *testing.T) {
	f := newFixture(t)
	if err := f.withConfig(ca.Config{NoSVIDRenewal: true}); err != nil {
		t.Fatal(err)
	}
	first, err := f.sign(joinRequest(t, f.token(orders, false)))
	if err != nil {
		t.Fatalf("join token: %v", err)
	}
	_, err = f.sign(renewRequest(t, first.Chain))
	if kind(err) != ca.Invalid || !strings.Contains(err.Error(), `unknown attestation type "x509_svid" (want one of ["join_token"])`) {
		t.Fatalf("renewal with a valid SVID: %v, want it refused as an unknown type", err)
	}
}

func TestDuplicateAttestor(t *testing.T) {
	f := newFixture(t)
	err := f.withConfig(ca.Config{Attestors: []attest.Attestor{attest.JoinToken{}}})
	if err == nil || !strings.Contains(err.Error(), `two attestors of type "join_token"`) {
		t.Fatalf("New = %v, want a duplicate type error", err)
	}
}

// An attestor that cannot check a proof (the Kubernetes API is down) makes
// an Unavailable refusal: audited with its cause, but not counted against
// the caller, who did nothing wrong.
func TestAttestorUnavailable(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "https://" + ln.Addr().String(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	psat := psat.Attestor{Reviews: cs.AuthenticationV1().TokenReviews(), TrustDomain: td}
	if err := f.withConfig(ca.Config{Attestors: []attest.Attestor{psat}}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * ca.FailureBurst {
		req := joinRequest(t, "")
		req.Attestation = attest.Request{Type: attest.TypeK8sPSAT, Payload: []byte("a.b.c")}
		_, err := f.sign(req)
		if kind(err) != ca.Unavailable || strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("attempt %d: %v, want Unavailable without the internal cause", i+1, err)
		}
	}
	if _, err := f.sign(joinRequest(t, f.token(orders, false))); err != nil {
		t.Fatalf("after the API server outage the caller was limited: %v", err)
	}
	events, err := f.store.Events()
	if err != nil {
		t.Fatal(err)
	}
	var denied int
	for _, ev := range events {
		if ev.Kind == store.EventDenied && ev.Attestation == attest.TypeK8sPSAT && strings.Contains(ev.Reason, "connection refused") {
			denied++
		}
	}
	if denied != 2*ca.FailureBurst {
		t.Fatalf("%d audited refusals with the cause, want %d", denied, 2*ca.FailureBurst)
	}
}
