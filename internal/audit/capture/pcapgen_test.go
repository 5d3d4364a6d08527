package capture

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// synth writes TCP connections as the packets a capture of them holds.
type synth struct {
	t     testing.TB
	write func(gopacket.CaptureInfo, []byte) error
	ts    time.Time
	mss   int
	snap  int  // cut packets to this many bytes; 0: keep whole
	noSYN bool // leave out the handshake, as a capture started mid-connection
	raw   bool // no link-layer header
	// order, when set, rearranges each direction's data segments before
	// they are written (out of order delivery, retransmits).
	order func([]wseg) []wseg
	buf   gopacket.SerializeBuffer
}

func newPcap(t testing.TB, w io.Writer) *synth { return newPcapLink(t, w, layers.LinkTypeEthernet) }

// newPcapLink writes Ethernet frames, or bare IP packets for LinkTypeRaw.
func newPcapLink(t testing.TB, w io.Writer, link layers.LinkType) *synth {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65536, link); err != nil {
		t.Fatal(err)
	}
	return &synth{t: t, write: pw.WritePacket, ts: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), mss: 1448,
		buf: gopacket.NewSerializeBuffer(), raw: link == layers.LinkTypeRaw}
}

func newPcapng(t testing.TB, w io.Writer) (*synth, func()) {
	nw, err := pcapgo.NewNgWriter(w, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	s := &synth{t: t, write: nw.WritePacket, ts: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), mss: 1448, buf: gopacket.NewSerializeBuffer()}
	return s, func() {
		if err := nw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

// msg is one application write: from the client, or from the server.
type msg struct {
	client bool
	data   []byte
}

func cl(s string) msg { return msg{true, []byte(s)} }
func sv(s string) msg { return msg{false, []byte(s)} }

type tcpEnd struct {
	ap  netip.AddrPort
	seq uint32
}

// conn writes one connection: handshake, the messages, then FIN both ways.
func (s *synth) conn(client, server string, msgs ...msg) {
	c := &tcpEnd{netip.MustParseAddrPort(client), 1000}
	v := &tcpEnd{netip.MustParseAddrPort(server), 5000}
	if !s.noSYN {
		s.packet(c, v, nil, true, false, false)
		s.packet(v, c, nil, true, true, false)
		s.packet(c, v, nil, false, true, false)
	} else {
		c.seq++
		v.seq++
	}
	for _, m := range msgs {
		from, to := c, v
		if !m.client {
			from, to = v, c
		}
		s.data(from, to, m.data)
	}
	s.packet(c, v, nil, false, true, true)
	s.packet(v, c, nil, false, true, true)
	s.packet(c, v, nil, false, true, false)
}

// wseg is a data segment to write.
type wseg struct {
	seq  uint32
	data []byte
}

func (s *synth) data(from, to *tcpEnd, b []byte) {
	var segs []wseg
	for seq := from.seq; len(b) > 0; {
		n := min(len(b), s.mss)
		segs = append(segs, wseg{seq, b[:n]})
		b, seq = b[n:], seq+uint32(n)
	}
	end := from.seq
	if len(segs) > 0 {
		last := segs[len(segs)-1]
		end = last.seq + uint32(len(last.data))
	}
	if s.order != nil {
		segs = s.order(segs)
	}
	for _, g := range segs {
		from.seq = g.seq
		s.packet(from, to, g.data, false, true, false)
	}
	from.seq = end
}

// packet writes one segment from → to and advances from's sequence number.
func (s *synth) packet(from, to *tcpEnd, payload []byte, syn, ack, fin bool) {
	s.ts = s.ts.Add(time.Millisecond)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(from.ap.Port()), DstPort: layers.TCPPort(to.ap.Port()), Seq: from.seq,
		SYN: syn, ACK: ack, FIN: fin, PSH: len(payload) > 0, Window: 65535, Ack: to.seq}
	var ip gopacket.NetworkLayer
	if from.ap.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: from.ap.Addr().AsSlice(), DstIP: to.ap.Addr().AsSlice()}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: from.ap.Addr().AsSlice(), DstIP: to.ap.Addr().AsSlice()}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	ls := []gopacket.SerializableLayer{eth, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(payload)}
	if s.raw {
		ls = ls[1:]
	}
	if err := gopacket.SerializeLayers(s.buf, opts, ls...); err != nil {
		s.t.Fatal(err)
	}
	data := s.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: s.ts, CaptureLength: len(data), Length: len(data)}
	if s.snap > 0 && len(data) > s.snap {
		data = data[:s.snap]
		ci.CaptureLength = s.snap
	}
	if err := s.write(ci, data); err != nil {
		s.t.Fatal(err)
	}
	from.seq += uint32(len(payload))
	if syn || fin {
		from.seq++
	}
}
