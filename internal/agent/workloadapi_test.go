package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/testenv"
)

// serveWorkloadAPI serves a's Workload API on a socket until the test ends
// and returns the socket path.
func serveWorkloadAPI(t *testing.T, a *agent.Agent) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "workload.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeWorkloadAPI(ctx, path, 0) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeWorkloadAPI: %v", err)
		}
	})
	testenv.Eventually(t, 10*time.Second, "the Workload API socket", func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Mode()&os.ModeSocket != 0 && fi.Mode().Perm() == 0o600
	})
	return path
}

// go-spiffe's own Workload API client reads the agent's SVID and bundle, and
// its X509Source follows renewals.
func TestWorkloadAPIInterop(t *testing.T) {
	clk := clock.NewFake(time.Now())
	c := newCA(t, clk)
	a, _ := c.newAgent(agent.Config{JoinToken: c.token(orders, false)})
	svid := start(t, a)
	run(t, a)
	addr := workloadapi.WithAddr("unix://" + serveWorkloadAPI(t, a))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	got, err := workloadapi.FetchX509SVID(ctx, addr)
	if err != nil {
		t.Fatalf("FetchX509SVID: %v", err)
	}
	if got.ID != svid.ID || !got.Certificates[0].Equal(svid.Certificates[0]) || len(got.Certificates) != 2 {
		t.Fatalf("fetched %s with %d certificates, want the agent's SVID", got.ID, len(got.Certificates))
	}
	bundles, err := workloadapi.FetchX509Bundles(ctx, addr)
	if err != nil {
		t.Fatalf("FetchX509Bundles: %v", err)
	}
	b, err := bundles.GetX509BundleForTrustDomain(td)
	if err != nil || len(b.X509Authorities()) != 1 || !b.X509Authorities()[0].Equal(c.roots[0]) {
		t.Fatalf("fetched bundle is not the CA's root: %v", err)
	}

	source, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(addr))
	if err != nil {
		t.Fatalf("NewX509Source: %v", err)
	}
	t.Cleanup(func() { source.Close() })
	changed := a.Changed()
	a.RenewNow()
	waitChanged(t, changed, "a renewal")
	renewed := current(t, a)
	testenv.Eventually(t, 10*time.Second, "the X509Source to see the renewed SVID", func() bool {
		s, err := source.GetX509SVID()
		return err == nil && s.Certificates[0].Equal(renewed.Certificates[0])
	})
}

// Requests without the security header are refused, as the spec requires.
func TestWorkloadAPISecurityHeader(t *testing.T) {
	c := newCA(t, clock.NewFake(time.Now()))
	a, _ := c.newAgent(agent.Config{JoinToken: c.token(orders, false)})
	start(t, a)
	conn, err := grpc.NewClient("unix://"+serveWorkloadAPI(t, a), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := workload.NewSpiffeWorkloadAPIClient(conn)
	for name, call := range map[string]func() error{
		"FetchX509SVID": func() error {
			s, err := client.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		},
		"FetchX509Bundles": func() error {
			s, err := client.FetchX509Bundles(ctx, &workload.X509BundlesRequest{})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s without the header: %v, want InvalidArgument", name, err)
		}
	}
	// The same raw call with the header is answered.
	ctx = metadata.AppendToOutgoingContext(ctx, "workload.spiffe.io", "true")
	s, err := client.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := s.Recv(); err != nil || len(resp.GetSvids()) != 1 || resp.GetSvids()[0].GetSpiffeId() != orders {
		t.Fatalf("FetchX509SVID with the header: %v %v", resp, err)
	}
}
