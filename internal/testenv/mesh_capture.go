package testenv

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TCPConn is both directions of one TCP connection in a capture. Client is
// the direction from the address that sent the first packet seen.
type TCPConn struct {
	Client, Server *TCPStream // Server is nil when nothing came back
}

// Finished reports whether the connection ended in the capture: both sides
// sent FIN, or either side reset it (a side that closes while its peer
// still sends answers with RST, and the peer then sends no FIN).
func (c TCPConn) Finished() bool {
	if c.Server == nil {
		return c.Client.RST
	}
	return c.Client.RST || c.Server.RST || (c.Client.FIN && c.Server.FIN)
}

// Streams are the connection's directions that exist.
func (c TCPConn) Streams() []*TCPStream {
	if c.Server == nil {
		return []*TCPStream{c.Client}
	}
	return []*TCPStream{c.Client, c.Server}
}

// PairStreams groups directions into connections, in capture order.
func PairStreams(streams []*TCPStream) []TCPConn {
	var out []TCPConn
	used := map[*TCPStream]bool{}
	for _, s := range streams {
		if used[s] {
			continue
		}
		used[s] = true
		c := TCPConn{Client: s}
		for _, r := range streams {
			if !used[r] && s.Reverse(r) {
				c.Server, used[r] = r, true
				break
			}
		}
		out = append(out, c)
	}
	return out
}

// Between keeps the connections whose two ends are the addresses x and y.
func Between(conns []TCPConn, x, y netip.Addr) []TCPConn {
	var out []TCPConn
	for _, c := range conns {
		s, d := c.Client.Src.Addr(), c.Client.Dst.Addr()
		if (s == x && d == y) || (s == y && d == x) {
			out = append(out, c)
		}
	}
	return out
}

// DescribeStreams lists captured directions one a line, for failure messages.
func DescribeStreams(streams []*TCPStream) string {
	var b strings.Builder
	for _, s := range streams {
		fmt.Fprintf(&b, "  %s → %s: %d bytes in %d packets, SYN %v FIN %v RST %v\n",
			s.Src, s.Dst, len(s.Data), s.Packets, s.SYN, s.FIN, s.RST)
	}
	return b.String()
}

// WaitConns polls the capture until cond holds on its connections and
// returns them; on timeout the failure lists every captured direction.
func (c *Capture) WaitConns(t testing.TB, timeout time.Duration, what string, cond func([]TCPConn) bool) []TCPConn {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		streams, err := ReadTCPStreams(c.Path)
		if err == nil && cond(PairStreams(streams)) {
			return PairStreams(streams)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s in %s (last read error: %v); captured:\n%s",
				timeout, what, c.Path, err, DescribeStreams(streams))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
