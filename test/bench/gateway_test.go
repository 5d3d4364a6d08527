package main

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

// The gateway topology works end to end with tiny durations: each front
// (hopseal gateway, nginx, haproxy) answers on both route kinds, its CPU
// is counted, latency is measured, and the backend proxy saw the gateway's
// identity from all three. (The numbers are for scripts/bench.sh.)
func TestGatewaySmoke(t *testing.T) {
	testenv.RequireTool(t, "nginx", "haproxy")
	bin, proxyBin := testenv.Binary(t), testenv.ProxyBinary(t)
	o, err := parseFlags([]string{"-hopseal", bin, "-hopseal-proxy", proxyBin, "-topology", gateway, "-rounds", "1",
		"-duration", "300ms", "-latency-duration", "500ms", "-rates", "200", "-gateway-clients", "4"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := runGateway(t.Context(), o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range routeKinds {
		for _, metric := range []string{"requests/s", "requests per CPU-second", "latency p50 at 200 req/s", "latency p99 at 200 req/s"} {
			row := gatewayRow(t, rep, kind, metric)
			for i, f := range frontNames {
				if v := leadingNumber(row[i+2]); v <= 0 {
					t.Errorf("%s, %s, %s: %q; want a positive number", kind, metric, f, row[i+2])
				}
			}
		}
	}
	if ids, want := machineRow(t, rep, "identity each front presented to the backend proxy"), "all three: "+gatewayID; ids != want {
		t.Errorf("identities on the mesh hop: %q; want %q", ids, want)
	}
	for _, key := range []string{"negotiated, terminate, client to front", "negotiated, passthrough, client to app (through the front)",
		"negotiated, front to backend proxy (mesh)"} {
		if v := machineRow(t, rep, key); !strings.Contains(v, "TLS 1.3") || strings.Contains(v, "unknown") {
			t.Errorf("%s: %q; want TLS 1.3", key, v)
		}
	}
	if v := machineRow(t, rep, "nginx"); !strings.HasPrefix(v, "nginx/") {
		t.Errorf("nginx version: %q; want nginx/<version>", v)
	}
	if len(rep.verdicts) != len(routeKinds) {
		t.Errorf("verdicts: %q; want one per route kind", rep.verdicts)
	}
}

func gatewayRow(t *testing.T, rep *report, kind, prefix string) []string {
	t.Helper()
	for _, row := range rep.rows {
		if row[0] == kind && strings.HasPrefix(row[1], prefix) {
			return row
		}
	}
	t.Fatalf("the gateway report has no row %s / %q", kind, prefix)
	return nil
}

func machineRow(t *testing.T, rep *report, key string) string {
	t.Helper()
	for _, m := range rep.machine {
		if m[0] == key {
			return m[1]
		}
	}
	t.Fatalf("the machine section has no %q", key)
	return ""
}

func TestByFront(t *testing.T) {
	same := map[string]string{"hopseal": "x", "nginx": "x", "haproxy": "x"}
	cases := []struct {
		name string
		in   map[string]string
		want string
	}{
		{"all agree", same, "all three: x"},
		{"one differs", map[string]string{"hopseal": "y", "nginx": "x", "haproxy": "x"}, "hopseal: y; nginx: x; haproxy: x"},
		{"one missing", map[string]string{"hopseal": "x", "nginx": "x"}, "hopseal: x; nginx: x; haproxy: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := byFront(tc.in); got != tc.want {
				t.Fatalf("byFront = %q; want %q", got, tc.want)
			}
		})
	}
}

// descendants finds a grandchild (as nginx's CPU counts its workers'), and
// treeCPU counts at least the process's own time.
func TestDescendants(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	sleeper, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p, err := os.FindProcess(sleeper); err == nil {
			p.Kill()
		}
	})
	if got := descendants(os.Getpid()); !slices.Contains(got, sleeper) {
		t.Errorf("descendants of this process = %v; want the shell's child %d among them", got, sleeper)
	}
	own, _ := cpuTime(os.Getpid())
	if tree, err := treeCPU(os.Getpid()); err != nil || tree < own {
		t.Errorf("treeCPU = %s, %v; want at least this process's own %s", tree, err, own)
	}
}
