package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// webhookServer runs Serve on loopback with a swappable certificate and
// returns its URL; it stops at cleanup, and the test fails if Serve erred.
func webhookServer(t *testing.T, h http.Handler, cert *atomic.Pointer[tls.Certificate]) (string, context.CancelFunc) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Load(), nil }
	go func() { done <- Serve(ctx, ln, h, getCert, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return "https://" + ln.Addr().String() + Path, cancel
}

func clientTrusting(maxVersion uint16, cas ...*testCA) *http.Client {
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AppendCertsFromPEM(ca.PEM)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, // each request is a new handshake
		TLSClientConfig:   &tls.Config{RootCAs: pool, MaxVersion: maxVersion},
	}}
}

func TestServeRotatesWithoutRestart(t *testing.T) {
	caA, caB := newTestCA(t, "ca A"), newTestCA(t, "ca B")
	var cert atomic.Pointer[tls.Certificate]
	cert.Store(caA.serving(t))
	url, _ := webhookServer(t, testHandler(), &cert)
	client := clientTrusting(0, caA, caB)
	body := reviewBody(t, "meshed", podJSON(t, nil, nil))

	issuer := func() string {
		t.Helper()
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || review.Response == nil || !review.Response.Allowed || review.Response.Patch == nil {
			t.Fatalf("response %+v, %v; want an allowed patch", review.Response, err)
		}
		if resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want 1.3", resp.TLS.Version)
		}
		return resp.TLS.PeerCertificates[0].Issuer.CommonName
	}
	if got := issuer(); got != "ca A" {
		t.Fatalf("issuer %q, want ca A", got)
	}
	cert.Store(caB.serving(t))
	if got := issuer(); got != "ca B" {
		t.Fatalf("after rotation the issuer is %q, want ca B", got)
	}
}

func TestServeRefusesOldTLS(t *testing.T) {
	ca := newTestCA(t, "ca")
	var cert atomic.Pointer[tls.Certificate]
	cert.Store(ca.serving(t))
	url, _ := webhookServer(t, testHandler(), &cert)
	_, err := clientTrusting(tls.VersionTLS12, ca).Post(url, "application/json", strings.NewReader("{}"))
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("TLS 1.2 client: %v, want a protocol version failure", err)
	}
	resp, err := clientTrusting(0, ca).Get(strings.TrimSuffix(url, Path) + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", resp.StatusCode)
	}
}

func TestServeNeedsCertificates(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Serve(context.Background(), ln, testHandler(), nil, nil); err == nil {
		t.Fatal("Serve without a certificate source succeeded")
	}
}
