package integration_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/wire"
)

const (
	maxPlainRecord = 1 << 14 // TLS 1.3 plaintext per record
	recordOverhead = 5 + 1 + 16
	handshakeBytes = 8 << 10 // generous bound on one direction's handshake
)

// markedPayload is n pseudo-random bytes with a plaintext marker every 64 KiB.
func markedPayload(n int) ([]byte, [][]byte) {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{'h', 'o', 'p'}).Read(b)
	var markers [][]byte
	for off, i := 0, 0; off+64 <= n; off, i = off+64<<10, i+1 {
		m := []byte(fmt.Sprintf("HOPSEAL-PLAINTEXT-MARKER-%03d", i))
		copy(b[off:], m)
		markers = append(markers, m)
	}
	return b, markers
}

// listenerFilter matches packets to or from one listening address.
func listenerFilter(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("((src host %s and src port %s) or (dst host %s and dst port %s))", host, port, host, port)
}

// leg returns both directions of the one connection made to addr.
func leg(streams []*testenv.TCPStream, addr string) (up, down *testenv.TCPStream) {
	for _, s := range streams {
		if s.Dst.String() == addr {
			up = s
		}
	}
	for _, s := range streams {
		if up != nil && up.Reverse(s) {
			down = s
		}
	}
	return up, down
}

func legClosed(streams []*testenv.TCPStream, addr string) bool {
	up, down := leg(streams, addr)
	return up != nil && down != nil && up.Closed() && down.Closed()
}

// testWireProof captures a transfer full of plaintext markers on loopback:
// the app ↔ proxy leg carries them in clear (so the check can fail), the
// proxy ↔ proxy leg is TLS records from first byte to last, with none.
func testWireProof(t *testing.T, m *mesh) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "tcpdump")
	app, mtls := m.client.Outbound["echo"], m.server.Inbound["echo"]
	capture := testenv.StartCapture(t, "lo", listenerFilter(app)+" or "+listenerFilter(mtls))

	payload, markers := markedPayload(1 << 20)
	got, err := testenv.RoundTrip(app, payload, 30*time.Second)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes through the pair: got %d bytes, %v", len(payload), len(got), err)
	}
	capture.WaitStreams(t, 15*time.Second, "both legs closed in both directions", func(s []*testenv.TCPStream) bool {
		return legClosed(s, app) && legClosed(s, mtls)
	})
	capture.Stop(t)
	streams, err := testenv.ReadTCPStreams(capture.Path)
	if err != nil {
		t.Fatal(err)
	}
	appUp, appDown := leg(streams, app)
	if !appUp.SYN || !bytes.Equal(appUp.Data, payload) || !bytes.Equal(appDown.Data, payload) {
		t.Fatalf("app leg: captured %d/%d bytes, want the %d-byte payload each way", len(appUp.Data), len(appDown.Data), len(payload))
	}
	if found := wire.FindMarkers(appUp.Data, markers...); len(found) != len(markers) {
		t.Fatalf("app leg shows %d of %d markers in plaintext; the capture cannot prove anything", len(found), len(markers))
	}

	up, down := leg(streams, mtls)
	srv := m.server.Connection(t, func(l map[string]any) bool { return testenv.Str(l, "source") == up.Src.String() })
	cli := m.client.Connection(t, func(l map[string]any) bool { return testenv.Str(l, "source") == appUp.Src.String() })
	for _, l := range []map[string]any{srv, cli} {
		if testenv.Str(l, "decision") != "allow" || testenv.Num(l, "bytes_up") != float64(len(payload)) || testenv.Num(l, "bytes_down") != float64(len(payload)) {
			t.Errorf("connection line %v: want decision allow and %d bytes each way", l, len(payload))
		}
	}
	checkTLSStream(t, "client proxy → server proxy", up, len(payload), markers)
	checkTLSStream(t, "server proxy → client proxy", down, len(payload), markers)
}

// checkTLSStream asserts a captured direction is whole TLS records, starts
// with a handshake, carries application data, leaks no marker, and is as
// long as the logged plaintext plus TLS overhead.
func checkTLSStream(t *testing.T, name string, s *testenv.TCPStream, logged int, markers [][]byte) {
	t.Helper()
	if !s.SYN || !s.Closed() {
		t.Fatalf("%s: capture lacks the start or the end of the flow (SYN %v, closed %v)", name, s.SYN, s.Closed())
	}
	recs, err := wire.ParseTLSRecords(s.Data)
	if err != nil {
		t.Fatalf("%s: not TLS: %v", name, err)
	}
	if recs.Truncated || recs.Bytes != len(s.Data) {
		t.Errorf("%s: flow ended inside a record (%d of %d bytes in whole records)", name, recs.Bytes, len(s.Data))
	}
	if s.Data[0] != wire.Handshake || recs.ByType[wire.ApplicationData] == 0 {
		t.Errorf("%s: first record type %d, %d application data records; want a handshake first and application data", name, s.Data[0], recs.ByType[wire.ApplicationData])
	}
	if leaked := wire.FindMarkers(s.Data, markers...); len(leaked) > 0 {
		t.Errorf("%s: %d plaintext markers on the wire, e.g. %q", name, len(leaked), leaked[0])
	}
	over := len(s.Data) - logged
	lo := recordOverhead * ((logged + maxPlainRecord - 1) / maxPlainRecord)
	hi := recordOverhead*recs.Count + handshakeBytes
	if over < lo || over > hi {
		t.Errorf("%s: %d bytes on the wire for %d logged plaintext bytes: overhead %d outside [%d, %d]", name, len(s.Data), logged, over, lo, hi)
	}
	t.Logf("%s: %d TLS records (%d application data), %d bytes for %d plaintext", name, recs.Count, recs.ByType[wire.ApplicationData], len(s.Data), logged)
}
