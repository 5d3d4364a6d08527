package ca_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	cav1 "github.com/hopseal/hopseal/api/ca/v1"
	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// running is a CA server on loopback listeners.
type running struct {
	issuer, bundle string // addresses
	adminSock      string
}

// serve runs f's CA until the test ends.
func (f *fixture) serve() *running {
	f.t.Helper()
	ls := ca.Listeners{Issuer: listen(f.t, "tcp", "127.0.0.1:0"), Bundle: listen(f.t, "tcp", "127.0.0.1:0")}
	r := &running{issuer: ls.Issuer.Addr().String(), bundle: ls.Bundle.Addr().String(), adminSock: filepath.Join(f.t.TempDir(), "admin.sock")}
	ls.Admin = listen(f.t, "unix", r.adminSock)
	srv := ca.NewServer(f.ca, f.admin, slog.New(slog.NewTextHandler(f.log, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ls) }()
	f.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			f.t.Error("Serve did not return after cancel")
		}
	})
	return r
}

func listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// issuerClient dials the Issuer as an agent does: verifying the CA's
// identity, presenting svid (nil: none) as the client certificate.
func (f *fixture) issuerClient(addr string, svid *x509svid.SVID) cav1.IssuerClient {
	f.t.Helper()
	var src x509svid.Source
	if svid != nil {
		src = svid
	}
	conf := tlsconf.Client(src, f.ca.Bundle(), tlsconf.AuthorizeID(identity.CA(td)), time.Now)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	return cav1.NewIssuerClient(conn)
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func joinRPC(t *testing.T, token string) *cav1.SignX509SVIDRequest {
	der, _ := newCSR(t, nil)
	return &cav1.SignX509SVIDRequest{Csr: der, Attestation: &cav1.Attestation{Type: "join_token", Payload: []byte(token)}}
}

// A shutdown that comes before the listeners serve is still clean.
func TestServeStopsCleanly(t *testing.T) {
	f := newFixture(t)
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ls := ca.Listeners{Issuer: listen(t, "tcp", "127.0.0.1:0"), Admin: listen(t, "unix", filepath.Join(t.TempDir(), "a.sock"))}
		if err := ca.NewServer(f.ca, f.admin, slog.New(slog.DiscardHandler)).Serve(ctx, ls); err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	}
}
