package agent_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	cav1 "github.com/hopseal/hopseal/api/ca/v1"
	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/kube/psat"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// A cluster-mode CA: k8s_psat, and no renewal by SVID alone.
func (c *kube) newCA(clk *clock.Fake) *testCA {
	return newCAWith(c.t, clk, caOptions{attestors: []attest.Attestor{c.psat()}, noSVIDRenewal: true})
}

// evidence is what the CA recorded as the proof behind svid.
func (c *testCA) evidence(svid *x509svid.SVID) string {
	c.t.Helper()
	recs, err := c.store.Certificates()
	if err != nil {
		c.t.Fatal(err)
	}
	serial := pki.SerialString(svid.Certificates[0].SerialNumber)
	for _, r := range recs {
		if r.Serial == serial {
			return r.Attestation
		}
	}
	c.t.Fatalf("no record of SVID %s", serial)
	return ""
}

// The agent attests with the pod's token file, gets exactly the pod's
// service-account identity, and renews by attesting with the token again.
func TestTokenFileIssuesAndRenews(t *testing.T) {
	t.Parallel()
	kc := newKube(t)
	pod := kc.pod("orders", "orders-1")
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokenFile, kc.k.PodToken(t, pod, attest.DefaultAudience))
	clk := clock.NewFake(time.Now())
	c := kc.newCA(clk)
	want := spiffeid.RequireFromString("spiffe://example.org/ns/" + kc.ns + "/sa/orders")
	a, _ := c.newAgent(agent.Config{TokenFile: tokenFile, ExpectedID: want})

	svid := start(t, a)
	if svid.ID != want {
		t.Fatalf("agent holds %s, want %s", svid.ID, want)
	}
	podEvidence := "k8s_psat:ns/" + kc.ns + "/sa/orders/pod/orders-1/uid/" + string(pod.UID)
	if got := c.evidence(svid); got != podEvidence {
		t.Fatalf("first SVID attested by %q, want %q", got, podEvidence)
	}
	run(t, a)
	blocked(t, clk)
	changed := a.Changed()
	advanceTo(clk, svid, 0.56)
	waitChanged(t, changed, "a renewal")
	renewed := current(t, a)
	if renewed.ID != want || renewed.Certificates[0].SerialNumber.Cmp(svid.Certificates[0].SerialNumber) == 0 {
		t.Fatalf("renewal gave %s serial %s", renewed.ID, renewed.Certificates[0].SerialNumber)
	}
	if got := c.evidence(renewed); got != podEvidence {
		t.Fatalf("renewal attested by %q, want the token again (%q)", got, podEvidence)
	}
}

// The token file is read at every attempt (the kubelet rotates it), and once
// the pod is gone renewals fail while the held SVID keeps serving.
func TestTokenFileRotatedThenRevoked(t *testing.T) {
	t.Parallel()
	kc := newKube(t)
	first, second := kc.pod("orders", "orders-1"), kc.pod("orders", "orders-2")
	firstToken, secondToken := kc.k.PodToken(t, first, attest.DefaultAudience), kc.k.PodToken(t, second, attest.DefaultAudience)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokenFile, firstToken)
	clk := clock.NewFake(time.Now())
	c := kc.newCA(clk)
	a, logs := c.newAgent(agent.Config{TokenFile: tokenFile})
	svid := start(t, a)
	run(t, a)

	// A renewal with the first token would now fail: only re-reading the
	// file can succeed.
	writeToken(t, tokenFile, secondToken)
	kc.revoke(first, firstToken)
	changed := a.Changed()
	a.RenewNow()
	waitChanged(t, changed, "a renewal with the rotated token")
	renewed := current(t, a)
	if got, want := c.evidence(renewed), "/pod/orders-2/"; !strings.Contains(got, want) {
		t.Fatalf("renewal attested by %q, want the rotated token (%s)", got, want)
	}

	kc.revoke(second, secondToken)
	a.RenewNow()
	waitLog(t, logs, "SVID renewal failed", 1)
	if current(t, a) != renewed {
		t.Fatal("the SVID changed after the pod was deleted")
	}
	// Nor can the held SVID renew itself: a cluster-mode CA takes no
	// x509_svid renewals.
	_, err := c.sign(renewed, &cav1.Attestation{Type: attest.TypeX509SVID}, nil)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "unknown attestation type") {
		t.Fatalf("x509_svid renewal after the pod was deleted: %v, want it refused", err)
	}
	if svid.ID != renewed.ID {
		t.Fatalf("identity changed from %s to %s", svid.ID, renewed.ID)
	}
}

// Over the CA's gRPC API: a token grants only its own namespace whatever the
// CSR asks for, and an unreachable API server is a retryable Unavailable,
// never a denial nor a reason to rate-limit the caller.
func TestK8sPSATOverGRPC(t *testing.T) {
	t.Parallel()
	kc := newKube(t)
	token := kc.k.PodToken(t, kc.pod("orders", "orders-1"), attest.DefaultAudience)
	att := &cav1.Attestation{Type: attest.TypeK8sPSAT, Payload: []byte(token)}
	c := kc.newCA(clock.NewFake(time.Now()))
	own := "spiffe://example.org/ns/" + kc.ns + "/sa/orders"

	resp, err := c.sign(nil, att, nil)
	if err != nil || resp.GetSpiffeId() != own {
		t.Fatalf("sign = %v, %v; want %s", resp.GetSpiffeId(), err, own)
	}
	for _, other := range []string{"spiffe://example.org/ns/kube-system/sa/orders", "spiffe://example.org/ns/" + kc.ns + "/sa/admin"} {
		_, err := c.sign(nil, att, &x509.CertificateRequest{URIs: []*url.URL{spiffeid.RequireFromString(other).URL()}})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("CSR for %s with a token of %s: %v, want PermissionDenied", other, own, err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "https://" + ln.Addr().String(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	downCA := newCAWith(t, clock.NewFake(time.Now()), caOptions{attestors: []attest.Attestor{psat.Attestor{Reviews: cs.AuthenticationV1().TokenReviews(), TrustDomain: td}}})
	// More attempts than the CA lets a failing host make (10) before it
	// rate-limits it.
	for i := range 15 {
		_, err := downCA.sign(nil, att, nil)
		if status.Code(err) != codes.Unavailable || strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("attempt %d with the API server down: %v, want Unavailable without internal detail", i+1, err)
		}
	}
}

// sign calls the CA's Issuer as an agent would, presenting svid (nil: none)
// as the client certificate, with a CSR from tmpl (nil: no SANs).
func (c *testCA) sign(svid *x509svid.SVID, att *cav1.Attestation, tmpl *x509.CertificateRequest) (*cav1.SignX509SVIDResponse, error) {
	c.t.Helper()
	var src x509svid.Source
	if svid != nil {
		src = svid
	}
	conf := tlsconf.Client(src, x509bundle.FromX509Authorities(td, c.roots), tlsconf.AuthorizeID(identity.CA(td)), c.clock.Now)
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	key, err := pki.NewKey()
	if err != nil {
		c.t.Fatal(err)
	}
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cav1.NewIssuerClient(conn).SignX509SVID(ctx, &cav1.SignX509SVIDRequest{Csr: csr, Attestation: att})
}

// Refusals end Start at once, each with a message naming the fix.
func TestTokenFileStartErrors(t *testing.T) {
	t.Parallel()
	kc := newKube(t)
	pod := kc.pod("orders", "orders-1")
	tests := []struct {
		name    string
		token   string // "" leaves the file missing
		wantErr string
	}{
		{name: "file missing", wantErr: "mount a projected token"},
		{name: "file empty", token: " ", wantErr: "is empty"},
		{name: "token for another audience", token: kc.k.PodToken(t, pod, "vault"), wantErr: "the CA refused the service account token in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokenFile := filepath.Join(t.TempDir(), "token")
			if tt.token != "" {
				writeToken(t, tokenFile, tt.token)
			}
			c := kc.newCA(clock.NewFake(time.Now()))
			a, _ := c.newAgent(agent.Config{TokenFile: tokenFile})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := a.Start(ctx)
			if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start = %v, want a prompt error containing %q", err, tt.wantErr)
			}
			if tail := strings.TrimSpace(tt.token); len(tail) > 16 && strings.Contains(err.Error(), tail[len(tail)-16:]) {
				t.Fatal("the error repeats the token")
			}
		})
	}
}

// While the CA cannot reach the API server, Start keeps retrying rather than
// giving up: the token was not refused, only not checked.
func TestTokenFileAPIServerDown(t *testing.T) {
	t.Parallel()
	kc := newKube(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokenFile, kc.k.PodToken(t, kc.pod("orders", "orders-1"), attest.DefaultAudience))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := &rest.Config{Host: "https://" + ln.Addr().String(), Timeout: 5 * time.Second}
	ln.Close()
	cs, err := kubernetes.NewForConfig(down)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	c := newCAWith(t, clk, caOptions{attestors: []attest.Attestor{psat.Attestor{Reviews: cs.AuthenticationV1().TokenReviews(), TrustDomain: td}}})
	a, logs := c.newAgent(agent.Config{TokenFile: tokenFile})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Start(ctx) }()
	for i := 1; i <= 3; i++ {
		waitLog(t, logs, "unable to attest; retrying", i)
		blocked(t, clk)
		clk.Advance(time.Minute)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want it still retrying until cancelled", err)
	}
}
