package mesh_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// TestFailClosed kills a's proxy: while it is down, a's app cannot reach b
// (the kernel refuses the redirected connection) and nothing of it crosses
// the wire, and b's app cannot reach a's either. Restarted with the same
// data dir and no new token, the proxy carries a's new connections again
// within a second of its start.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	m, a, b, _, echoes := mutualPair(t)
	msg := []byte("through the mesh")
	if got, err := a.RoundTrip(b.Addr(echoPort), msg); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo a → b before the crash: %q, %v", got, err)
	}

	capture := testenv.StartCapture(t, m.Net.Bridge, "tcp and host "+a.IP.String()+" and host "+b.IP.String())
	a.KillProxy(t)
	reached := echoes["b"].Conns()
	for i := range 3 {
		if got, err := a.RoundTrip(b.Addr(echoPort), []byte("must not leak")); !testenv.IsRefused(err) {
			t.Errorf("attempt %d from a's app while its proxy is down: %q, %v; want connection refused", i, got, err)
		}
	}
	if r, err := a.HTTP("POST", b.Addr(httpPort), "/leak", "must not leak"); !testenv.IsRefused(err) {
		t.Errorf("HTTP from a's app while its proxy is down: %+v, %v; want connection refused", r, err)
	}
	// b → a goes out on the wire (b's proxy dials a) and a's kernel refuses
	// it; once the capture shows it, it holds everything sent before it.
	if got, err := b.RoundTrip(a.Addr(echoPort), []byte("inbound while down")); err == nil {
		t.Errorf("b's app reached a's app while a's proxy was down: %q", got)
	}
	conns := capture.WaitConns(t, 10*time.Second, "b's attempt to reach a", func(cs []testenv.TCPConn) bool {
		for _, c := range cs {
			if c.Client.Src.Addr() == b.IP && c.Finished() {
				return true
			}
		}
		return false
	})
	capture.Stop(t)
	for _, c := range conns {
		for _, s := range c.Streams() {
			if s.Src.Addr() == a.IP && len(s.Data) > 0 {
				t.Errorf("%s → %s carried %d bytes while a's proxy was down", s.Src, s.Dst, len(s.Data))
			}
		}
	}
	if n := echoes["b"].Conns() - reached; n != 0 || echoes["a"].Conns() != 0 {
		t.Errorf("while a's proxy was down b's app accepted %d connections and a's %d; want none", n, echoes["a"].Conns())
	}

	a.LaunchProxy(t)
	first := pollUntil(10*time.Second, 5*time.Millisecond, func() bool {
		got, err := a.RoundTrip(b.Addr(echoPort), msg)
		return err == nil && bytes.Equal(got, msg)
	})
	if first.IsZero() {
		t.Fatalf("a's app still cannot reach b 10s after the proxy restarted")
	}
	if d := first.Sub(a.Started); d > time.Second {
		t.Errorf("first connection through the restarted proxy succeeded %s after its start; want within 1s", d)
	} else {
		t.Logf("first connection through the restarted proxy: %s after its start", d.Round(time.Millisecond))
	}
	a.WaitProxyReady(t)
	if len(a.Proxy.LogLines("loaded SVID from data directory")) != 1 {
		t.Errorf("the restarted proxy did not reuse the SVID in its data dir (join tokens are single-use)")
	}
}

// pollUntil calls cond every interval until it holds, and returns when it
// first did (zero after timeout).
func pollUntil(timeout, interval time.Duration, cond func() bool) time.Time {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return time.Now()
		}
		time.Sleep(interval)
	}
	return time.Time{}
}
