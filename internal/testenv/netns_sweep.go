package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tagPattern matches the start of a name after the harness's prefix.
var tagPattern = regexp.MustCompile(`^([0-9a-z]{1,6})-[0-9a-z]{1,3}(-|$)`)

// mustIP runs `ip args…` and fails the test if it fails.
func mustIP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := ipCmd(args...); err != nil {
		t.Fatalf("netns harness: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ipQuiet runs `ip args…` for cleanup, where a missing object is fine.
func ipQuiet(args ...string) { ipCmd(args...) }

func ipCmd(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ip", args...).CombinedOutput()
}

// sweepStale deletes namespaces and links that test processes which are no
// longer running left behind. With self, this process's own PID counts as
// dead too: before its first Net it has created nothing, and what a process
// with the same PID left would otherwise collide with its names.
func sweepStale(t testing.TB, self bool) {
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if name, ok := strings.CutPrefix(e.Name(), netnsPrefix); ok && staleTag(name, self) {
				t.Logf("netns harness: removing stale network namespace %s", e.Name())
				ipQuiet("netns", "del", e.Name())
			}
		}
	}
	links, err := net.Interfaces()
	if err != nil {
		return
	}
	for _, l := range links {
		for _, prefix := range []string{vethPrefix, bridgePrefix} {
			if rest, ok := strings.CutPrefix(l.Name, prefix); ok && staleTag(rest, self) {
				t.Logf("netns harness: removing stale link %s", l.Name)
				ipQuiet("link", "del", l.Name)
			}
		}
	}
}

// staleTag reports whether a name that continues with the harness's tag,
// "<pid base 36>-<counter base 36>", belongs to a process that is gone (or,
// with self, to this one).
func staleTag(rest string, self bool) bool {
	m := tagPattern.FindStringSubmatch(rest)
	if m == nil {
		return false
	}
	pid, err := strconv.ParseInt(m[1], 36, 32)
	if err != nil || pid <= 0 {
		return false
	}
	if int(pid) == os.Getpid() {
		return self
	}
	err = syscall.Kill(int(pid), 0)
	return errors.Is(err, syscall.ESRCH)
}
