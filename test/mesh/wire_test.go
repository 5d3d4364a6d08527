package mesh_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/wire"
)

// markers are plaintext strings an app sends; none may cross the wire
// between meshed pods.
func markers(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("HOPSEAL-PLAINTEXT-%s-%02d", tag, i))
	}
	return out
}

// markedBody is filler with every marker in it.
func markedBody(ms [][]byte) []byte {
	var b bytes.Buffer
	for _, m := range ms {
		b.Write(bytes.Repeat([]byte("plaintext filler "), 200))
		b.Write(m)
	}
	return b.Bytes()
}

// allFinished reports whether there are at least n connections and each
// has its opening and its end in the capture.
func allFinished(conns []testenv.TCPConn, n int) bool {
	for _, c := range conns {
		if !c.Client.SYN || !c.Finished() {
			return false
		}
	}
	return len(conns) >= n
}

// TestWireProof captures the bridge while meshed apps exchange plaintext
// markers over HTTP and raw TCP, both ways: every byte between the two
// meshed pods is TLS records (handshake, then application data, nothing
// left over) and no marker appears. The same capture holds the proxies'
// enrolment with the CA, also TLS, and a transfer between two pods without
// proxies, where the markers do show: the check can fail.
func TestWireProof(t *testing.T) {
	t.Parallel()
	m := testenv.NewMesh(t, testenv.MeshConfig{})
	capture := testenv.StartCapture(t, m.Net.Bridge, "tcp")
	pods := m.AddPods(t,
		testenv.PodSpec{Name: "a"},
		testenv.PodSpec{Name: "b", Policy: policy(allowRule("a-calls-b", nil, m.ID("a")))},
		testenv.PodSpec{Name: "plain-c", NoProxy: true},
		testenv.PodSpec{Name: "plain-d", NoProxy: true})
	a, b, c, d := pods[0], pods[1], pods[2], pods[3]
	serveApps(t, b, d)

	httpMarks, tcpMarks := markers("HTTP", 8), markers("TCP", 8)
	httpBody, tcpData := markedBody(httpMarks), markedBody(tcpMarks)
	all := append(append([][]byte{}, httpMarks...), tcpMarks...)
	transfer := func(from, to *testenv.MeshPod) {
		t.Helper()
		r, err := from.HTTP("POST", to.Addr(httpPort), "/upload", string(httpBody))
		if err != nil || r.Status != 200 || !strings.HasSuffix(r.Body, string(httpBody)) {
			t.Fatalf("POST from %s to %s: %v; want 200 echoing the body", from.Name, to.Name, err)
		}
		got, err := from.RoundTrip(to.Addr(echoPort), tcpData)
		if err != nil || !bytes.Equal(got, tcpData) {
			t.Fatalf("TCP echo from %s to %s: %d of %d bytes back, %v", from.Name, to.Name, len(got), len(tcpData), err)
		}
	}
	transfer(a, b)
	transfer(c, d)
	conns := capture.WaitConns(t, 15*time.Second, "both transfers finished on the wire", func(cs []testenv.TCPConn) bool {
		return allFinished(testenv.Between(cs, a.IP, b.IP), 2) && allFinished(testenv.Between(cs, c.IP, d.IP), 2)
	})
	capture.Stop(t)

	sent := map[netip.Addr]int{}
	for _, conn := range testenv.Between(conns, a.IP, b.IP) {
		for _, s := range conn.Streams() {
			checkTLS(t, s, true, all)
			sent[s.Src.Addr()] += len(s.Data)
		}
	}
	if want := len(httpBody) + len(tcpData); sent[a.IP] < want || sent[b.IP] < want {
		t.Errorf("a → b carried %d bytes and b → a %d; the marked payload alone is %d each way", sent[a.IP], sent[b.IP], want)
	}

	var plain []byte
	for _, conn := range testenv.Between(conns, c.IP, d.IP) {
		for _, s := range conn.Streams() {
			plain = append(plain, s.Data...)
		}
	}
	if found := wire.FindMarkers(plain, all...); len(found) != len(all) {
		t.Fatalf("between the pods without proxies the capture shows %d of %d markers; it cannot prove anything", len(found), len(all))
	}

	issuer := netip.MustParseAddrPort(m.CA.IssuerAddr)
	enrolled := map[netip.Addr]bool{}
	for _, conn := range conns {
		if conn.Client.Dst == issuer {
			for _, s := range conn.Streams() {
				checkTLS(t, s, conn.Finished(), nil)
			}
			enrolled[conn.Client.Src.Addr()] = true
		}
	}
	if !enrolled[a.IP] || !enrolled[b.IP] {
		t.Errorf("the capture holds CA traffic from %v; want both meshed pods' enrolment", enrolled)
	}
}

// checkTLS asserts a captured direction is TLS records from its first byte
// (a handshake) to its last (a whole record, once the connection finished),
// carries application data and holds none of the markers.
func checkTLS(t *testing.T, s *testenv.TCPStream, finished bool, markers [][]byte) {
	t.Helper()
	name := s.Src.String() + " → " + s.Dst.String()
	if !s.SYN || len(s.Data) == 0 {
		t.Errorf("%s: capture lacks the start of the flow or its payload (SYN %v, %d bytes)", name, s.SYN, len(s.Data))
		return
	}
	recs, err := wire.ParseTLSRecords(s.Data)
	switch {
	case err != nil:
		t.Errorf("%s: not TLS: %v", name, err)
	case finished && (recs.Truncated || recs.Bytes != len(s.Data)):
		t.Errorf("%s: finished flow ends inside a record (%d of %d bytes in whole records)", name, recs.Bytes, len(s.Data))
	case s.Data[0] != wire.Handshake || recs.ByType[wire.ApplicationData] == 0:
		t.Errorf("%s: first record type %d, %d application data records; want a handshake first, then application data",
			name, s.Data[0], recs.ByType[wire.ApplicationData])
	}
	if leaked := wire.FindMarkers(s.Data, markers...); len(leaked) > 0 {
		t.Errorf("%s: plaintext on the wire: %q", name, leaked)
	}
}
