package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/wire"
)

// link is a pair of hosts whose connections the capture holds.
type link struct {
	name        string
	from, to    netip.Addr // the connecting side first
	proxyHeader bool       // from → to starts with a PROXY v2 header, then TLS
}

func (e *edge) links() []link {
	host := e.m.Net.HostIP
	ls := []link{
		{name: "client → load balancer", from: e.client.IP, to: e.lb.IP},
		{name: "load balancer → gateway", from: e.lb.IP, to: e.gw.IP, proxyHeader: e.mode == nlb},
		{name: "gateway → web pod", from: e.gw.IP, to: e.web.IP},
		{name: "gateway → pay pod", from: e.gw.IP, to: e.pay.IP},
		{name: "gateway → CA", from: e.gw.IP, to: host},
		{name: "web proxy → CA", from: e.web.IP, to: host},
		{name: "pay proxy → CA", from: e.pay.IP, to: host},
	}
	if e.mode == alb {
		ls = append(ls[:3], ls[4:]...) // nothing is routed to pay behind an ALB
	}
	return ls
}

// checkWire asserts, link by link, that every captured connection is TLS
// records from its first byte to its last (after the PROXY header where the
// load balancer sends one) and that no marker appears anywhere; it returns
// one summary line per link.
func (e *edge) checkWire(t *testing.T, conns []testenv.TCPConn, marks [][]byte) []string {
	t.Helper()
	var summary []string
	seen := 0
	for _, l := range e.links() {
		got := testenv.Between(conns, l.from, l.to)
		seen += len(got)
		sum := wire.Records{ByType: map[uint8]int{}}
		bytesOnLink, headers := 0, 0
		for _, c := range got {
			for _, s := range c.Streams() {
				data := s.Data
				if l.proxyHeader && s.Src.Addr() == l.from {
					data = e.stripProxyHeader(t, l, s)
					headers++
				}
				r := checkTLS(t, l.name, s, data, c.Finished())
				sum.Count += r.Count
				for k, v := range r.ByType {
					sum.ByType[k] += v
				}
				bytesOnLink += len(s.Data)
				if leaked := wire.FindMarkers(s.Data, marks...); len(leaked) > 0 {
					t.Errorf("%s: plaintext on the wire in %s → %s: %q", l.name, s.Src, s.Dst, leaked)
				}
			}
		}
		if len(got) == 0 || sum.ByType[wire.ApplicationData] == 0 {
			t.Errorf("%s: the capture holds %d connections with %d application data records; want traffic on every link", l.name, len(got), sum.ByType[wire.ApplicationData])
		}
		line := fmt.Sprintf("%-24s %2d connections, %7d bytes, %4d TLS records (%d handshake, %d application data), 0 markers",
			l.name+":", len(got), bytesOnLink, sum.Count, sum.ByType[wire.Handshake], sum.ByType[wire.ApplicationData])
		if headers > 0 {
			line += fmt.Sprintf(", %d PROXY v2 headers carrying the client %s", headers, e.client.IP)
		}
		summary = append(summary, line)
	}
	if seen != len(conns) {
		t.Errorf("the capture holds %d connections, %d of them on the links checked; want none elsewhere:\n%s",
			len(conns), seen, describe(conns))
	}
	return summary
}

// checkTLS asserts that data (a captured direction, after any PROXY
// header) is TLS records from a handshake on, whole records once finished.
func checkTLS(t *testing.T, link string, s *testenv.TCPStream, data []byte, finished bool) wire.Records {
	t.Helper()
	name := fmt.Sprintf("%s: %s → %s", link, s.Src, s.Dst)
	if !s.SYN {
		t.Errorf("%s: the capture lacks the start of the connection", name)
		return wire.Records{}
	}
	if len(data) == 0 {
		return wire.Records{} // a side that never sent (a refused connection): nothing to read
	}
	recs, err := wire.ParseTLSRecords(data)
	switch {
	case err != nil:
		t.Errorf("%s: not TLS: %v", name, err)
	case data[0] != wire.Handshake:
		t.Errorf("%s: the first record is of type %d, want a handshake", name, data[0])
	case finished && (recs.Truncated || recs.Bytes != len(data)):
		t.Errorf("%s: the connection ended inside a record (%d of %d bytes in whole records)", name, recs.Bytes, len(data))
	}
	return recs
}

// stripProxyHeader checks that a load balancer's connection starts with a
// PROXY v2 header naming the client pod, and returns what follows it.
func (e *edge) stripProxyHeader(t *testing.T, l link, s *testenv.TCPStream) []byte {
	t.Helper()
	if !bytes.HasPrefix(s.Data, proxyproto.SIGV2) || len(s.Data) < 16 {
		t.Errorf("%s: %s → %s does not start with a PROXY v2 header", l.name, s.Src, s.Dst)
		return s.Data
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(s.Data)))
	if err != nil {
		t.Errorf("%s: PROXY header: %v", l.name, err)
		return s.Data
	}
	if src, ok := h.SourceAddr.(*net.TCPAddr); !ok || !src.IP.Equal(e.client.IP.AsSlice()) {
		t.Errorf("%s: the PROXY header names client %v, want %s", l.name, h.SourceAddr, e.client.IP)
	}
	return s.Data[16+int(binary.BigEndian.Uint16(s.Data[14:16])):]
}

func describe(conns []testenv.TCPConn) string {
	var b strings.Builder
	for _, c := range conns {
		b.WriteString(testenv.DescribeStreams(c.Streams()))
	}
	return b.String()
}

// settled reports whether every connection between pods has ended in the
// capture (connections to the CA may stay open: agents keep them).
func (e *edge) settled(conns []testenv.TCPConn) bool {
	for _, c := range conns {
		if c.Client.Dst.Addr() != e.m.Net.HostIP && (!c.Client.SYN || !c.Finished()) {
			return false
		}
	}
	return len(conns) > 0
}

// podCapture is tcpdump inside a pod's network namespace.
type podCapture struct {
	path string
	proc *testenv.Proc
}

func startPodCapture(t *testing.T, pod *testenv.Pod, iface, filter string) *podCapture {
	t.Helper()
	dir := t.TempDir()
	c := &podCapture{path: filepath.Join(dir, "capture.pcap")}
	c.proc = pod.Start(t, dir, "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-B", "65536", "-Z", "root", "-w", c.path, filter)
	testenv.Eventually(t, 10*time.Second, "tcpdump listening in pod "+pod.Name, func() bool {
		if c.proc.Exited() {
			t.Fatalf("tcpdump in pod %s exited: %s", pod.Name, c.proc.Output())
		}
		return strings.Contains(c.proc.Output(), "listening on "+iface)
	})
	return c
}

// payload is every byte the capture holds, both directions.
func (c *podCapture) payload(t *testing.T) []byte {
	t.Helper()
	streams, err := testenv.ReadTCPStreams(c.path)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, s := range streams {
		all = append(all, s.Data...)
	}
	return all
}
