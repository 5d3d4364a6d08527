package ca_test

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/store"
)

// Every issuance and every refusal is in the hash-chained audit log.
func TestAuditLog(t *testing.T) {
	f := newFixture(t)
	var secrets []string
	tok := func(reusable bool) string {
		s := f.token(orders, reusable)
		secrets = append(secrets, s)
		return s
	}
	first, err := f.sign(joinRequest(t, tok(false)))
	if err != nil {
		t.Fatal(err)
	}
	unknown := joinRequest(t, "hsjt_"+strings.Repeat("x", 43))
	badCSR := joinRequest(t, tok(false))
	badCSR.CSR = []byte("junk")
	wrongID := joinRequest(t, tok(false))
	wrongID.CSR, _ = newCSR(t, &x509.CertificateRequest{URIs: []*url.URL{uri(admin)}})
	for _, req := range []ca.SignRequest{unknown, badCSR, wrongID} {
		if _, err := f.sign(req); kind(err) == 0 {
			t.Fatalf("request was not refused: %v", err)
		}
	}
	renewed, err := f.sign(renewRequest(t, first.Chain))
	if err != nil {
		t.Fatal(err)
	}

	events, err := f.store.Events()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.VerifyChain(events); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
		for _, s := range secrets {
			if strings.Contains(fmt.Sprintf("%+v", e), s) {
				t.Fatalf("audit event %d contains a join token secret", e.Seq)
			}
		}
		if e.Kind == store.EventDenied && (e.Requester != peer || e.Reason == "") {
			t.Errorf("denial %d lacks requester or reason: %+v", e.Seq, e)
		}
	}
	want := "token_created issued token_created token_created denied denied denied issued"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("audit kinds:\n got %s\nwant %s", got, want)
	}
	if r := events[len(events)-2].Reason; !strings.Contains(r, "attestation grants") {
		t.Errorf("denial of a CSR for another ID has reason %q", r)
	}

	certs, err := f.store.Certificates()
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]store.CertRecord{}
	for _, c := range certs {
		recorded[c.Serial] = c
	}
	for _, is := range []*ca.Issued{first, renewed} {
		rec, ok := recorded[pki.SerialString(is.Chain[0].SerialNumber)]
		if !ok || rec.SPIFFEID != orders || rec.Requester != peer || !rec.NotAfter.Equal(is.Chain[0].NotAfter) {
			t.Errorf("issued certificate %X recorded as %+v", is.Chain[0].SerialNumber, rec)
		}
	}
	if !strings.HasPrefix(recorded[pki.SerialString(renewed.Chain[0].SerialNumber)].Attestation, "x509_svid:") {
		t.Error("renewal not recorded as x509_svid attestation")
	}
}

// After a burst of failures a host is refused before attestation, so even a
// valid token is neither spent nor useful to it; other hosts are unaffected.
func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	good := f.token(orders, true)
	for i := range 2 * ca.FailureBurst {
		req := joinRequest(t, good)
		req.Peer = fmt.Sprintf("198.51.100.1:%d", 1000+i)
		if _, err := f.sign(req); err != nil {
			t.Fatalf("success %d counted as a failure: %v", i, err)
		}
	}
	for i := range ca.FailureBurst {
		req := joinRequest(t, "hsjt_unknown")
		req.Peer = fmt.Sprintf("192.0.2.7:%d", 1000+i) // the host counts, not the port
		if _, err := f.sign(req); kind(err) != ca.Denied {
			t.Fatalf("failure %d: %v, want Denied", i+1, err)
		}
	}
	token := f.token(orders, false)
	req := joinRequest(t, token)
	req.Peer = "192.0.2.7:2000"
	_, err := f.sign(req)
	if kind(err) != ca.RateLimited || !strings.Contains(err.Error(), "too many failed requests from 192.0.2.7") {
		t.Fatalf("request after %d failures: %v, want RateLimited", ca.FailureBurst, err)
	}
	other := joinRequest(t, f.token(orders, false))
	other.Peer = "192.0.2.8:2000"
	if _, err := f.sign(other); err != nil {
		t.Fatalf("another host was limited too: %v", err)
	}
	if !f.redeemable(token) {
		t.Fatal("a rate-limited request spent the token")
	}
}
