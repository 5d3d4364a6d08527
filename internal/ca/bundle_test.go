package ca_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// go-spiffe's federation client, authenticating the endpoint by the CA's
// SPIFFE ID, accepts the JWKS the CA serves.
func TestBundleEndpointJWKS(t *testing.T) {
	f := newFixture(t)
	srv := f.serve()
	url := "https://" + srv.bundle + "/"
	got, err := federation.FetchBundle(callCtx(t), td, url, federation.WithSPIFFEAuth(f.ca.Bundle(), identity.CA(td)))
	if err != nil {
		t.Fatalf("FetchBundle: %v", err)
	}
	auths := got.X509Authorities()
	if len(auths) != 1 || !auths[0].Equal(f.auth.Roots[0]) {
		t.Fatalf("fetched %d authorities, want the CA's root", len(auths))
	}
	if hint, ok := got.RefreshHint(); !ok || hint != ca.BundleRefreshHint {
		t.Errorf("refresh hint %v %v, want %v", hint, ok, ca.BundleRefreshHint)
	}
	if _, ok := got.SequenceNumber(); !ok {
		t.Error("no spiffe_sequence")
	}
	// The check can fail: an endpoint expected under another ID is refused.
	wrong := spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/orders")
	if _, err := federation.FetchBundle(callCtx(t), td, url, federation.WithSPIFFEAuth(f.ca.Bundle(), wrong)); err == nil {
		t.Fatal("FetchBundle accepted an endpoint with another SPIFFE ID")
	}
}

func TestBundleEndpointPEM(t *testing.T) {
	f := newFixture(t)
	srv := f.serve()
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsconf.Client(nil, f.ca.Bundle(), tlsconf.AuthorizeID(identity.CA(td)), time.Now)},
	}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("https://" + srv.bundle + "/bundle.pem")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	roots, err := pki.ParseCerts(body)
	if err != nil || len(roots) != 1 || !roots[0].Equal(f.auth.Roots[0]) {
		t.Fatalf("/bundle.pem: %v", err)
	}
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatal("bundle endpoint not served over TLS 1.3")
	}
}
