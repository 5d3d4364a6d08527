package agent_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/agent"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
)

func TestStartWithJoinToken(t *testing.T) {
	c := newCA(t, clock.NewFake(time.Now()))
	a, _ := c.newAgent(agent.Config{JoinToken: c.token(orders, false)})
	changed := a.Changed()
	svid := start(t, a)
	if !closed(changed) {
		t.Error("Changed did not fire for the first SVID")
	}
	if svid.ID.String() != orders {
		t.Fatalf("agent holds %s, want %s", svid.ID, orders)
	}
	if _, err := pki.VerifySVID(svid.Certificates, a, x509.ExtKeyUsageClientAuth, c.clock.Now()); err != nil {
		t.Fatalf("SVID does not verify against the agent's bundle: %v", err)
	}
	if !pki.PublicKeysEqual(svid.Certificates[0].PublicKey, svid.PrivateKey.Public()) {
		t.Fatal("SVID key does not match its certificate")
	}
	// Certificate times have whole seconds.
	if got := svid.Certificates[0].NotAfter.Sub(c.clock.Now()); got <= svidTTL-time.Second || got > svidTTL {
		t.Errorf("lifetime %s, want the requested %s", got, svidTTL)
	}
	if roots := a.Bundle().X509Authorities(); len(roots) != 1 || !roots[0].Equal(c.roots[0]) {
		t.Fatal("agent bundle is not the CA's root")
	}
}

// Run renews between 45% and 55% of the lifetime, each time with a new key.
func TestRenewalSchedule(t *testing.T) {
	clk := clock.NewFake(time.Now())
	c := newCA(t, clk)
	a, _ := c.newAgent(agent.Config{JoinToken: c.token(orders, false)})
	svid := start(t, a)
	run(t, a)
	for cycle := range 2 {
		changed := a.Changed()
		blocked(t, clk)
		advanceTo(clk, svid, 0.44)
		if clk.Waiters() != 1 || closed(changed) {
			t.Fatalf("cycle %d: renewal fired before 45%% of the lifetime", cycle)
		}
		advanceTo(clk, svid, 0.56)
		waitChanged(t, changed, "a renewal after 55% of the lifetime")
		next := current(t, a)
		old, leaf := svid.Certificates[0], next.Certificates[0]
		switch {
		case next.ID != svid.ID:
			t.Fatalf("cycle %d: renewal changed identity %s → %s", cycle, svid.ID, next.ID)
		case leaf.SerialNumber.Cmp(old.SerialNumber) == 0:
			t.Fatalf("cycle %d: renewal kept the serial", cycle)
		case pki.PublicKeysEqual(leaf.PublicKey, old.PublicKey):
			t.Fatalf("cycle %d: renewal kept the key", cycle)
		case !leaf.NotAfter.After(old.NotAfter):
			t.Fatalf("cycle %d: renewal did not extend the lifetime", cycle)
		}
		svid = next
	}
}

// With the CA down the agent keeps serving its SVID and retries; when the CA
// returns on the same address with the same state, renewal succeeds.
func TestCAOutage(t *testing.T) {
	clk := clock.NewFake(time.Now())
	c := newCA(t, clk)
	a, logs := c.newAgent(agent.Config{JoinToken: c.token(orders, false)})
	svid := start(t, a)
	run(t, a)
	blocked(t, clk)
	c.stop()

	advanceTo(clk, svid, 0.6) // the scheduled renewal fails
	waitLog(t, logs, "SVID renewal failed", 1)
	blocked(t, clk) // now on the retry backoff
	clk.Advance(time.Minute)
	waitLog(t, logs, "SVID renewal failed", 2)
	if got := current(t, a); got != svid {
		t.Fatal("agent dropped its SVID while the CA was down")
	}
	if _, err := pki.VerifySVID(svid.Certificates, a, x509.ExtKeyUsageClientAuth, clk.Now()); err != nil {
		t.Fatalf("served SVID no longer verifies: %v", err)
	}

	c.start()
	deadline := time.Now().Add(30 * time.Second)
	for current(t, a) == svid {
		if time.Now().After(deadline) {
			t.Fatal("no renewal after the CA came back")
		}
		changed := a.Changed()
		a.RenewNow() // skip the backoff; gRPC reconnects on its own schedule
		select {
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if got := current(t, a); got.ID != svid.ID || got.Certificates[0].NotAfter.Before(clk.Now().Add(svidTTL/2)) {
		t.Fatalf("renewed SVID %s expires %v", got.ID, got.Certificates[0].NotAfter)
	}
}

func TestExpiredSVIDReattests(t *testing.T) {
	tests := []struct {
		name      string
		reusable  bool
		reattests bool
	}{
		{name: "reusable token", reusable: true, reattests: true},
		{name: "spent single-use token", reusable: false, reattests: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			c := newCA(t, clk)
			a, logs := c.newAgent(agent.Config{JoinToken: c.token(orders, tt.reusable)})
			svid := start(t, a)
			changed := a.Changed()
			run(t, a)
			blocked(t, clk)
			advanceTo(clk, svid, 1.01) // asleep past expiry
			waitLog(t, logs, "re-attesting with the join token", 1)
			if !tt.reattests {
				waitLog(t, logs, "SVID renewal failed", 1)
				if current(t, a) != svid {
					t.Fatal("SVID changed without a usable token")
				}
				return
			}
			waitChanged(t, changed, "re-attestation")
			got := current(t, a)
			if got.ID != svid.ID || !got.Certificates[0].NotAfter.After(clk.Now()) {
				t.Fatalf("re-attested SVID %s valid until %v", got.ID, got.Certificates[0].NotAfter)
			}
		})
	}
}

// Refusals by the CA end Start at once; retrying would not help.
func TestStartPermanentErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(c *testCA) agent.Config
		wantErr string
	}{
		{name: "ExpectedID mismatch", wantErr: "configured as", cfg: func(c *testCA) agent.Config {
			return agent.Config{JoinToken: c.token(orders, false), ExpectedID: spiffeid.RequireFromString("spiffe://example.org/ns/shop/sa/admin")}
		}},
		{name: "unknown token", wantErr: "the CA refused the join token: join token rejected", cfg: func(c *testCA) agent.Config {
			return agent.Config{JoinToken: "hsjt_" + strings.Repeat("x", 43)}
		}},
		{name: "no token and no data", wantErr: "hopseal ca token create", cfg: func(c *testCA) agent.Config {
			return agent.Config{}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCA(t, clock.NewFake(time.Now()))
			a, _ := c.newAgent(tt.cfg(c))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := a.Start(ctx)
			if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start = %v, want a prompt error containing %q", err, tt.wantErr)
			}
			if _, err := a.GetX509SVID(); err == nil {
				t.Fatal("agent holds an SVID after a refused start")
			}
		})
	}
}

func waitLog(t *testing.T, logs *testenv.Buffer, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for logs.Count(msg) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log %q appeared %d times, want %d", msg, logs.Count(msg), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ x509svid.Source = (*agent.Agent)(nil)
