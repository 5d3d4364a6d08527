package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// machine describes where the numbers came from.
func machine(o options) [][2]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	stunnel := combined(ctx, o.stunnel, "-version")
	openssl := combined(ctx, "openssl", "version")
	return [][2]string{
		{"CPUs (nproc)", fmt.Sprint(runtime.NumCPU())},
		{"CPU model", cpu},
		{"kernel", strings.TrimSpace(string(kernel))},
		{"Go", runtime.Version()},
		{"stunnel", firstLine(stunnel, "stunnel ")},
		{"stunnel's OpenSSL", strings.TrimPrefix(firstLine(stunnel, "Running"), "Running with ")},
		{"openssl", strings.TrimSpace(openssl)},
		{"open-file limit (soft, hard)", fileLimit()},
		{"load average at the start (1, 5, 15 min)", o.loadAtStart},
		{"load average at the end", loadAverage()},
	}
}

func fileLimit() string {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return "unknown"
	}
	return fmt.Sprintf("%d, %d", lim.Cur, lim.Max)
}

// combined returns a command's combined output (stunnel prints its version on stderr).
func combined(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out)
}

// loadAverage is the 1, 5 and 15 minute load average: how busy the machine
// was besides this run.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func firstLine(out, prefix string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix) {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return "unknown"
}

// median is the median of get over ss, samples of either topology.
func median[S any](ss []S, get func(S) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = get(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
