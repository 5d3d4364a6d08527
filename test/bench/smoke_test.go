package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

// TestMain lets this test binary serve as the bench's app, as the bench
// program does (it runs itself with -serve-app).
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "-serve-app" {
		if err := serveApp(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "app:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}

// The bench works end to end in both topologies, with tiny durations:
// every path moves bytes, answers requests and new connections, and every
// proxy's memory grows with idle connections. (The numbers themselves are
// for scripts/bench.sh on a quiet machine.)
func TestBenchSmoke(t *testing.T) {
	testenv.RequireTool(t, "stunnel4")
	bin, proxyBin := testenv.Binary(t), testenv.ProxyBinary(t)
	for _, topo := range []string{loopback, transparent} {
		t.Run(topo, func(t *testing.T) {
			if topo == transparent {
				testenv.RequireRoot(t)
				testenv.RequireTool(t, "ip", "setpriv")
				testenv.Reachable(t, proxyBin)
			}
			o, err := parseFlags([]string{"-hopseal", bin, "-hopseal-proxy", proxyBin, "-topology", topo, "-rounds", "1",
				"-duration", "300ms", "-latency-duration", "700ms", "-handshake-duration", "300ms",
				"-rates", "200", "-streams", "1", "-idle", "100"})
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			if err := os.Chmod(work, 0o755); err != nil { // the proxies run as UID 1443
				t.Fatal(err)
			}
			rep, err := runTopology(t.Context(), o, topo, work)
			if err != nil {
				t.Fatal(err)
			}
			for _, metric := range []string{"throughput, 1 stream", "HTTP latency p50 at 200 req/s", "new connections per second"} {
				row := findRow(t, rep, metric)
				for i, path := range []string{"plaintext", "hopseal", "stunnel"} {
					if v := leadingNumber(row[i+1]); v <= 0 {
						t.Errorf("%s, %s: %q; want a positive number", metric, path, row[i+1])
					}
				}
			}
			for _, side := range roles {
				row := findRow(t, rep, "memory per idle connection, "+side+" proxy, RSS")
				for i, path := range []string{"hopseal", "stunnel"} {
					if v := leadingNumber(row[i+2]); v <= 0 {
						t.Errorf("memory per idle connection, %s %s: %q; want a positive number", side, path, row[i+2])
					}
				}
			}
		})
	}
}

func findRow(t *testing.T, rep *report, prefix string) []string {
	t.Helper()
	for _, row := range rep.rows {
		if strings.HasPrefix(row[0], prefix) {
			return row
		}
	}
	t.Fatalf("the %s report has no row %q", rep.topology, prefix)
	return nil
}

func leadingNumber(s string) float64 {
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return 0
	}
	return v
}
