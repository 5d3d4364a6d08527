package testenv

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Capture is a running tcpdump writing a pcap file.
type Capture struct {
	Path string
	proc *Proc
}

// StartCapture runs tcpdump on iface with a BPF filter (e.g. "tcp port
// 8443") and returns once tcpdump reports that it is listening. Packets are
// written one by one (-U, --immediate-mode) so the file can be read while
// tcpdump runs; a 64 MiB kernel buffer (-B) keeps bulk loopback transfers,
// whose packets reach 64 KiB, from being dropped. Needs root and tcpdump.
func StartCapture(t testing.TB, iface, filter string) *Capture {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "tcpdump")
	dir := t.TempDir()
	c := &Capture{Path: filepath.Join(dir, "capture.pcap")}
	c.proc = Start(t, dir, "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-B", "65536", "-Z", "root", "-w", c.Path, filter)
	Eventually(t, 10*time.Second, "tcpdump listening on "+iface, func() bool {
		if c.proc.Exited() {
			t.Fatalf("tcpdump exited: %s", c.proc.Output())
		}
		return strings.Contains(c.proc.Output(), "listening on "+iface)
	})
	return c
}

var dropped = regexp.MustCompile(`(\d+) packets? dropped by kernel`)

// Stop ends tcpdump and fails the test if the kernel dropped packets, which
// would leave holes in the streams.
func (c *Capture) Stop(t testing.TB) {
	t.Helper()
	c.proc.Stop()
	out := c.proc.Output()
	m := dropped.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tcpdump printed no drop count:\n%s", out)
	}
	if m[1] != "0" {
		t.Fatalf("tcpdump: %s packets dropped by kernel; the capture is incomplete", m[1])
	}
}

// WaitStreams polls the pcap until cond holds on a hole-free reassembly
// of its TCP streams, and returns those streams.
func (c *Capture) WaitStreams(t testing.TB, timeout time.Duration, what string, cond func([]*TCPStream) bool) []*TCPStream {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		streams, err := ReadTCPStreams(c.Path)
		if err == nil && cond(streams) {
			return streams
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s in %s (last read error: %v)", timeout, what, c.Path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
