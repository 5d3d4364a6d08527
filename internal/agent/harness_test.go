package agent_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/store"
	"github.com/hopseal/hopseal/internal/testenv"
)

const (
	orders  = "spiffe://example.org/ns/shop/sa/orders"
	svidTTL = time.Hour
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

// caClock gives the CA the test's fake time but timers that never fire, so
// the fake clock's waiters are the agent's alone.
type caClock struct{ *clock.Fake }

func (caClock) After(time.Duration) <-chan time.Time { return nil }

// testCA is a real CA server on loopback that can be stopped and restarted
// on the same address from the same state directory.
type testCA struct {
	t     *testing.T
	dir   string
	addr  string
	clock *clock.Fake
	opts  caOptions
	roots []*x509.Certificate
	store *store.Store
	stop  func()
}

// caOptions add to the CA's defaults.
type caOptions struct {
	attestors     []attest.Attestor
	noSVIDRenewal bool
}

func newCA(t *testing.T, clk *clock.Fake) *testCA { return newCAWith(t, clk, caOptions{}) }

func newCAWith(t *testing.T, clk *clock.Fake, o caOptions) *testCA {
	t.Helper()
	c := &testCA{t: t, dir: filepath.Join(t.TempDir(), "ca"), addr: "127.0.0.1:0", clock: clk, opts: o}
	if err := ca.Init(c.dir, ca.InitOptions{TrustDomain: td, Now: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	c.start()
	return c
}

// start serves the state directory on c.addr (the first time any port).
func (c *testCA) start() {
	c.t.Helper()
	auth, err := ca.Load(c.dir)
	if err != nil {
		c.t.Fatal(err)
	}
	c.roots = auth.Roots
	if c.store, err = store.Open(filepath.Join(c.dir, ca.FileDB)); err != nil {
		c.t.Fatal(err)
	}
	authority, err := ca.New(ca.Config{Authority: auth, Store: c.store, Clock: caClock{c.clock},
		Attestors: c.opts.attestors, NoSVIDRenewal: c.opts.noSVIDRenewal})
	if err != nil {
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	srv := ca.NewServer(authority, c.admin(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ca.Listeners{Issuer: ln}) }()
	var once sync.Once
	st := c.store
	c.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				c.t.Errorf("CA Serve: %v", err)
			}
			st.Close()
		})
	}
	c.t.Cleanup(c.stop)
}

func (c *testCA) admin() ca.LocalAdmin {
	return ca.LocalAdmin{Store: c.store, TrustDomain: td, Clock: c.clock}
}

// token creates a join token that outlives several SVIDs, so an agent can
// re-attest with it after its SVID expired.
func (c *testCA) token(id string, reusable bool) string {
	c.t.Helper()
	tok, _, err := c.admin().CreateJoinToken(context.Background(), spiffeid.RequireFromString(id), 24*time.Hour, reusable)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// newAgent returns an agent of c configured by cfg (CA fields filled in).
func (c *testCA) newAgent(cfg agent.Config) (*agent.Agent, *testenv.Buffer) {
	c.t.Helper()
	logs := &testenv.Buffer{}
	cfg.TrustDomain, cfg.CAAddress, cfg.CARoots, cfg.Clock = td, c.addr, c.roots, c.clock
	cfg.Log = slog.New(slog.NewTextHandler(logs, nil))
	if cfg.TTL == 0 {
		cfg.TTL = svidTTL
	}
	a, err := agent.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { a.Close() })
	return a, logs
}

// run runs a's renewal loop until the test ends.
func run(t *testing.T, a *agent.Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func start(t *testing.T, a *agent.Agent) *x509svid.SVID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return current(t, a)
}

func current(t *testing.T, a *agent.Agent) *x509svid.SVID {
	t.Helper()
	svid, err := a.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	return svid
}

// blocked waits until the agent waits on the fake clock.
func blocked(t *testing.T, clk *clock.Fake) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the agent to wait on the clock", func() bool { return clk.Waiters() > 0 })
}

// advanceTo moves clk to the point frac of the way through svid's lifetime.
func advanceTo(clk *clock.Fake, svid *x509svid.SVID, frac float64) {
	leaf := svid.Certificates[0]
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	clk.Advance(leaf.NotBefore.Add(time.Duration(frac * float64(life))).Sub(clk.Now()))
}

func waitChanged(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
