package demo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// TestDemoOnce runs the whole demo in process, as `hopseal demo --once` does,
// and checks the printed verdict.
func TestDemoOnce(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	err := Run(context.Background(), Options{Out: &out, Once: true, Header: []string{"fips140: test"}})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the demo took %s; it must stay fast enough for CI", d)
	}
	text := out.String()
	for _, want := range []string{
		"fips140: test",
		"✔ PASS",
		"Hop frontend → orders",
		"Hop orders → payments",
		"key exchange X25519MLKEM768",
		"is not on the allow list",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "✘") {
		t.Errorf("report has a failed check:\n%s", text)
	}
}

// TestDemoReport checks the structured report: identities, both hops and
// both refusals, as the proxies and the taps saw them.
func TestDemoReport(t *testing.T) {
	d, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	r := d.Check(context.Background())
	if err := r.Err(); err != nil {
		var buf bytes.Buffer
		r.Write(&buf)
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if len(r.Services) != 3 {
		t.Fatalf("got %d services, want 3", len(r.Services))
	}
	for i, name := range services {
		if got := r.Services[i]; got.Name != name || got.ID != ServiceID(name).String() {
			t.Errorf("service %d = %s %s, want %s %s", i, got.Name, got.ID, name, ServiceID(name))
		}
	}
	if r.Checkouts.OK != 3 || !strings.Contains(r.Checkouts.Sample, Authorized) {
		t.Errorf("checkouts = %+v, want 3 answered %s", r.Checkouts, Authorized)
	}
	checkHops(t, r.Hops)
	checkRefusals(t, r.Refusals)
}

// TestDemoCloseLeavesNothing: every goroutine the demo starts has ended and
// its files (keys, tokens, the CA database) are gone once Close returns.
func TestDemoCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	d, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	dir := d.dir
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo directory %s still exists: %v", dir, err)
	}
	testenv.Eventually(t, 5*time.Second, "goroutines back to the count before Start", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

func checkHops(t *testing.T, hops []Hop) {
	t.Helper()
	want := [][2]string{{Frontend, Orders}, {Orders, Payments}}
	if len(hops) != len(want) {
		t.Fatalf("got %d hops, want %d", len(hops), len(want))
	}
	for i, h := range hops {
		from, to := want[i][0], want[i][1]
		if h.From != from || h.To != to {
			t.Errorf("hop %d is %s → %s, want %s → %s", i, h.From, h.To, from, to)
		}
		if h.ClientID != ServiceID(from).String() || h.ServerID != ServiceID(to).String() {
			t.Errorf("%s → %s: identities %s → %s", from, to, h.ClientID, h.ServerID)
		}
		for _, tls := range []struct{ side, version, group, suite string }{
			{"client", h.ClientTLS.Version, h.ClientTLS.Group, h.ClientTLS.CipherSuite},
			{"server", h.ServerTLS.Version, h.ServerTLS.Group, h.ServerTLS.CipherSuite},
		} {
			if tls.version != "TLS 1.3" || tls.group != "X25519MLKEM768" || !strings.HasPrefix(tls.suite, "TLS_") {
				t.Errorf("%s → %s %s side: %s %s %s, want TLS 1.3 with X25519MLKEM768", from, to, tls.side, tls.version, tls.suite, tls.group)
			}
		}
		if h.Flows != 3 || h.AppUp == 0 || h.AppDown == 0 {
			t.Errorf("%s → %s: %d flows, %d/%d app bytes; want 3 flows carrying bytes", from, to, h.Flows, h.AppUp, h.AppDown)
		}
		w := h.Wire
		if w.Connections != 3 || w.Up == 0 || w.Down == 0 || w.Handshake < 6 || w.Data < 6 {
			t.Errorf("%s → %s wire capture too thin: %+v", from, to, w)
		}
		if len(w.Leaked) > 0 || len(w.Problems) > 0 {
			t.Errorf("%s → %s wire capture: leaked %q, problems %q", from, to, w.Leaked, w.Problems)
		}
		if len(h.Plain.Found) != len(Markers()) {
			t.Errorf("%s → %s app leg shows %q, want every marker", from, to, h.Plain.Found)
		}
	}
}

func checkRefusals(t *testing.T, refusals []Refusal) {
	t.Helper()
	want := map[string]struct{ decision, reason string }{
		Intruder:           {"deny", "is not on the allow list"},
		"plaintext client": {"error", "handshake"},
	}
	if len(refusals) != len(want) {
		t.Fatalf("got %d refusals, want %d", len(refusals), len(want))
	}
	for _, f := range refusals {
		w, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected refusal %q", f.Name)
			continue
		}
		if f.Answered || f.Decision != w.decision || !strings.Contains(f.Reason, w.reason) {
			t.Errorf("%s: answered=%v, decision %q (%s); want refused with %s (%s)", f.Name, f.Answered, f.Decision, f.Reason, w.decision, w.reason)
		}
	}
	if refusals[0].Caller != ServiceID(Intruder).String() {
		t.Errorf("intruder caller = %s", refusals[0].Caller)
	}
}

// TestDemoServes runs the demo without --once: it prints the endpoints,
// serves a user's request through every hop, and stops on cancel.
func TestDemoServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Out: out}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20s of cancel")
		}
	})
	testenv.Eventually(t, 20*time.Second, "demo prints its endpoints", func() bool {
		return strings.Contains(out.String(), "Running until Ctrl-C")
	})
	m := regexp.MustCompile(`curl (http://\S+/checkout)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no frontend URL in:\n%s", out.String())
	}
	resp, err := httpClient().Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), Authorized) {
		t.Errorf("GET %s = %s", m[1], body)
	}
	line := "payments ← " + ServiceID(Orders).String() + ": allow · TLS 1.3"
	testenv.Eventually(t, 10*time.Second, "the payments proxy's flow is printed", func() bool {
		return strings.Contains(out.String(), line)
	})
}

// runHopseal runs the binary to completion with extra environment and
// returns stdout, stderr and the exit code.
func runHopseal(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	stdout, stderr, err := testenv.Exec{Bin: bin, Env: env}.Output(t, "", args...)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return stdout, stderr, code
}

// TestDemoFIPS builds hopseal against Go's FIPS 140-3 module and runs the
// demo with only approved algorithms allowed: the hybrid post-quantum key
// exchange must still be negotiated (X25519 alone is not approved).
func TestDemoFIPS(t *testing.T) {
	bin := testenv.FIPSBinary(t)
	only := []string{"GODEBUG=fips140=only"}
	out, errOut, code := runHopseal(t, bin, only, "version")
	if code != 0 || !strings.Contains(out, "fips140: enforced") {
		t.Fatalf("hopseal version under fips140=only: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runHopseal(t, bin, only, "demo", "--once")
	if code != 0 {
		t.Fatalf("hopseal demo --once under fips140=only: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"fips140: enforced", "key exchange X25519MLKEM768", "✔ PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "✔ mutual TLS 1.3 with X25519MLKEM768"); n != 2 {
		t.Errorf("%d hops passed the TLS check, want 2:\n%s", n, out)
	}
	if strings.Contains(out, "✘") {
		t.Errorf("a check failed:\n%s", out)
	}
}

// TestDemoOnceFailsWithoutPostQuantum turns the hybrid key exchange off in
// Go's TLS stack: the demo must notice, say why, and exit 1.
func TestDemoOnceFailsWithoutPostQuantum(t *testing.T) {
	bin := testenv.Binary(t)
	out, errOut, code := runHopseal(t, bin, []string{"GODEBUG=tlsmlkem=0"}, "demo", "--once")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	// Both proxies of both hops report it.
	if n := strings.Count(out, "negotiated key exchange X25519, want X25519MLKEM768"); n != 4 {
		t.Errorf("%d proxies explain the classical key exchange, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, "✘ FAIL") || !strings.Contains(errOut, "hopseal: demo: checks failed: 2 of") {
		t.Errorf("no clear failure verdict:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}
