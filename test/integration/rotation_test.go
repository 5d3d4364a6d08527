package integration_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

const (
	streamMin   = 64 << 20  // bytes the long stream carries at least
	streamChunk = 512 << 10 // written per tick: ~50 MiB/s, a steady stream
	streamTick  = 10 * time.Millisecond
)

// streamer writes pseudo-random data on a connection at a steady rate
// until it has sent streamMin bytes and stop is closed, then half-closes.
type streamer struct {
	conn *net.TCPConn
	sent atomic.Int64
	sum  []byte
	err  chan error
}

func startStream(t *testing.T, addr string, stop <-chan struct{}) *streamer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &streamer{conn: c.(*net.TCPConn), err: make(chan error, 1)}
	go func() { s.err <- s.run(stop) }()
	return s
}

func (s *streamer) run(stop <-chan struct{}) error {
	rng := rand.NewChaCha8([32]byte{'r', 'o', 't'})
	h := sha256.New()
	buf := make([]byte, streamChunk)
	tick := time.NewTicker(streamTick)
	defer tick.Stop()
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for !stopped() || s.sent.Load() < streamMin {
		<-tick.C
		rng.Read(buf)
		h.Write(buf)
		if _, err := s.conn.Write(buf); err != nil {
			return fmt.Errorf("stream write after %d bytes: %w", s.sent.Load(), err)
		}
		s.sent.Add(int64(len(buf)))
	}
	s.sum = h.Sum(nil)
	return s.conn.CloseWrite()
}

// testRotationDuringStream renews both proxies (SIGHUP) while a long stream
// flows through them: the stream completes intact, and connections made
// after the renewal use the new certificates on both sides.
func testRotationDuringStream(t *testing.T, m *mesh) {
	oldServer, oldClient := m.server.Serials(), m.client.Serials()
	if got := dialServer(t, m, "echo"); got != oldServer[len(oldServer)-1] {
		t.Fatalf("server proxy presents serial %s, its log says %s", got, oldServer[len(oldServer)-1])
	}
	probeEcho(t, m, "probe before renewal")
	if got := m.probe.lastSerial(); got != oldClient[len(oldClient)-1] {
		t.Fatalf("client proxy presents serial %s, its log says %s", got, oldClient[len(oldClient)-1])
	}
	stop := make(chan struct{})
	s := startStream(t, m.client.Outbound["hash"], stop)
	testenv.Eventually(t, 20*time.Second, "8 MiB streamed before renewal", func() bool { return s.sent.Load() >= 8<<20 })

	m.server.SIGHUP(t)
	m.client.SIGHUP(t)
	newServer := m.server.WaitSerials(t, len(oldServer)+1)
	newClient := m.client.WaitSerials(t, len(oldClient)+1)
	srvSerial, cliSerial := newServer[len(newServer)-1], newClient[len(newClient)-1]
	if slices.Contains(oldServer, srvSerial) || slices.Contains(oldClient, cliSerial) {
		t.Fatalf("renewal reused a serial: server %s (had %v), client %s (had %v)", srvSerial, oldServer, cliSerial, oldClient)
	}

	// New connections, while the old stream still flows.
	m.echo(t, "after renewal")
	if got := dialServer(t, m, "echo"); got != srvSerial {
		t.Errorf("server proxy presents serial %s after renewal, want the new %s", got, srvSerial)
	}
	probeEcho(t, m, "probe after renewal")
	if got := m.probe.lastSerial(); got != cliSerial {
		t.Errorf("client proxy presents serial %s after renewal, want the new %s", got, cliSerial)
	}
	close(stop)

	if err := <-s.err; err != nil {
		t.Fatal(err)
	}
	s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	digest, err := io.ReadAll(s.conn)
	if err != nil || string(digest) != string(s.sum) {
		t.Fatalf("stream of %d bytes: server hashed %x (%v), sender %x", s.sent.Load(), digest, err, s.sum)
	}
	checkStreamLogs(t, m, s.sent.Load())
	listed := map[string]bool{}
	for _, c := range m.ca.Certificates(t) {
		listed[c.Serial] = true
	}
	if !listed[srvSerial] || !listed[cliSerial] {
		t.Errorf("hopseal ca list lacks the renewed serials %s, %s", srvSerial, cliSerial)
	}
	t.Logf("streamed %d MiB across renewal of server %s and client %s", s.sent.Load()>>20, srvSerial, cliSerial)
}

// checkStreamLogs: both proxies logged the long flow as allowed, with no
// relay error, carrying every byte sent.
func checkStreamLogs(t *testing.T, m *mesh, sent int64) {
	t.Helper()
	for _, p := range []*testenv.Proxy{m.client, m.server} {
		l := p.Connection(t, func(l map[string]any) bool { return testenv.Str(l, "listener") == "hash" })
		if testenv.Str(l, "decision") != "allow" || testenv.Str(l, "reason") != "" ||
			testenv.Num(l, "bytes_up") != float64(sent) || testenv.Num(l, "bytes_down") != sha256.Size {
			t.Errorf("%s logged the stream as %v; want allow, no reason, %d bytes up, %d back", p.Name, l, sent, sha256.Size)
		}
	}
}

// probeEcho sends msg through the client proxy to the probe server.
func probeEcho(t *testing.T, m *mesh, msg string) {
	t.Helper()
	got, err := testenv.RoundTrip(m.client.Outbound["probe"], []byte(msg), 10*time.Second)
	if err != nil || string(got) != msg {
		t.Fatalf("echo through the client proxy to the probe: got %q, %v", got, err)
	}
}
