package testenv

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TCPStream is one direction of a TCP connection reassembled from a capture.
type TCPStream struct {
	Src, Dst netip.AddrPort
	Data     []byte // payload in sequence order, duplicates removed
	SYN      bool   // the capture holds the opening SYN (Data starts at byte 0)
	FIN, RST bool
	Packets  int
}

// Reverse reports whether o is the other direction of s's connection.
func (s *TCPStream) Reverse(o *TCPStream) bool { return s.Src == o.Dst && s.Dst == o.Src }

// Closed reports whether this direction ended with a FIN or RST.
func (s *TCPStream) Closed() bool { return s.FIN || s.RST }

type segment struct {
	seq  uint32
	data []byte
}

type direction struct {
	stream *TCPStream
	isn    uint32
	segs   []segment
}

// ReadTCPStreams reads an Ethernet/IPv4 pcap (tcpdump on lo writes one) and
// reassembles every TCP direction by sequence number. On loopback nothing is
// reordered in flight, but retransmits and overlaps are dropped here; a hole
// (a packet the capture missed) is an error naming the offset. A partial
// packet at the end of a file still being written is ignored.
func ReadTCPStreams(path string) ([]*TCPStream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", path, err)
	}
	var order []*direction
	dirs := map[[2]netip.AddrPort]*direction{}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", path, err)
		}
		src, dst, tcp, ok := decodeTCP(data, r.LinkType())
		if !ok {
			continue
		}
		d := dirs[[2]netip.AddrPort{src, dst}]
		if d == nil {
			d = &direction{stream: &TCPStream{Src: src, Dst: dst}, isn: tcp.Seq}
			dirs[[2]netip.AddrPort{src, dst}] = d
			order = append(order, d)
		}
		d.add(tcp)
	}
	var out []*TCPStream
	for _, d := range order {
		if err := d.assemble(); err != nil {
			return nil, err
		}
		out = append(out, d.stream)
	}
	return out, nil
}

func decodeTCP(data []byte, link layers.LinkType) (src, dst netip.AddrPort, tcp *layers.TCP, ok bool) {
	pkt := gopacket.NewPacket(data, link, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil {
		return src, dst, nil, false
	}
	sa, _ := netip.AddrFromSlice(ip.SrcIP.To4())
	da, _ := netip.AddrFromSlice(ip.DstIP.To4())
	return netip.AddrPortFrom(sa, uint16(tcp.SrcPort)), netip.AddrPortFrom(da, uint16(tcp.DstPort)), tcp, true
}

func (d *direction) add(tcp *layers.TCP) {
	s := d.stream
	s.Packets++
	if tcp.SYN {
		s.SYN, d.isn = true, tcp.Seq
	}
	s.FIN = s.FIN || tcp.FIN
	s.RST = s.RST || tcp.RST
	if len(tcp.Payload) > 0 {
		d.segs = append(d.segs, segment{seq: tcp.Seq, data: slices.Clone(tcp.Payload)})
	}
}

// assemble orders segments by offset from the first data byte (ISN+1 when
// the SYN was seen) and concatenates them, skipping bytes already placed.
func (d *direction) assemble() error {
	base := d.isn
	if d.stream.SYN {
		base++
	}
	off := func(s segment) int64 { return int64(s.seq - base) } // uint32 wraps
	slices.SortStableFunc(d.segs, func(a, b segment) int { return int(off(a) - off(b)) })
	var data []byte
	for _, s := range d.segs {
		start, end := off(s), off(s)+int64(len(s.data))
		have := int64(len(data))
		switch {
		case start > have:
			return fmt.Errorf("capture: %s → %s misses bytes %d-%d (packets not captured)", d.stream.Src, d.stream.Dst, have, start)
		case end <= have:
			continue // retransmit of bytes already placed
		}
		data = append(data, s.data[have-start:]...)
	}
	d.stream.Data = data
	return nil
}
