package capture

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// packet is what the analysis needs of one captured packet.
type packet struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8 // protoTCP, protoUDP, or 0 for anything else over IP
	seq          uint32
	syn, ack     bool
	fin, rst     bool
	payload      []byte // the TCP payload as captured
	wireLen      int    // the TCP payload's length on the wire (≥ len(payload) when the snap length cut it)
}

const (
	protoTCP = 6
	protoUDP = 17
)

// decoder decodes link, IP and TCP/UDP headers without allocating per packet.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newDecoder() *decoder {
	return &decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}, decoded: make([]gopacket.LayerType, 0, 8)}
}

// firstLayer is the layer a link type's packets start with; raw IP
// captures start with IPv4 or IPv6, told apart by the version nibble.
func firstLayer(link layers.LinkType, data []byte) (gopacket.LayerType, bool) {
	switch link {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkTypeRawAlt:
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6, true
		}
		return layers.LayerTypeIPv4, true
	}
	return 0, false
}

// linkTypeRawAlt is DLT_RAW as OpenBSD numbers it in files.
const linkTypeRawAlt layers.LinkType = 12

func (d *decoder) parser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p := d.parsers[first]
	if p == nil {
		p = gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.tcp, &d.udp)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return p
}

// decode fills p from data. ok is false for packets that are not IP, and
// known is false for a link type it cannot decode.
func (d *decoder) decode(data []byte, link layers.LinkType, p *packet) (ok, known bool) {
	first, known := firstLayer(link, data)
	if !known {
		return false, false
	}
	*p = packet{}
	d.parser(first).DecodeLayers(data, &d.decoded) // errors leave the layers decoded so far
	var ipPayloadLen int
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			p.src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			p.dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
			ipPayloadLen = int(d.ip4.Length) - int(d.ip4.IHL)*4
		case layers.LayerTypeIPv6:
			p.src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			p.dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			ipPayloadLen = int(d.ip6.Length)
		case layers.LayerTypeTCP:
			d.fillTCP(p, ipPayloadLen)
		case layers.LayerTypeUDP:
			p.proto, p.sport, p.dport = protoUDP, uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
		}
	}
	return p.src.IsValid() && p.dst.IsValid(), true
}

func (d *decoder) fillTCP(p *packet, ipPayloadLen int) {
	t := &d.tcp
	p.proto, p.sport, p.dport = protoTCP, uint16(t.SrcPort), uint16(t.DstPort)
	p.seq, p.syn, p.ack, p.fin, p.rst = t.Seq, t.SYN, t.ACK, t.FIN, t.RST
	p.payload = t.Payload
	p.wireLen = max(ipPayloadLen-int(t.DataOffset)*4, len(p.payload))
}
