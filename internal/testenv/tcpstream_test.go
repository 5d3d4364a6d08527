package testenv

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pkt is one segment of 127.0.0.1:40000 → 127.0.0.1:8443 at offset off
// from the ISN.
type pkt struct {
	off      uint32
	data     string
	syn, fin bool
}

func writePcap(t *testing.T, isn uint32, pkts []pkt) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 8443, Seq: isn + p.off, SYN: p.syn, FIN: p.fin, ACK: !p.syn, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(p.data)); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestReadTCPStreams(t *testing.T) {
	syn, hello, world, fin := pkt{off: 0, syn: true}, pkt{off: 1, data: "hello "}, pkt{off: 7, data: "world"}, pkt{off: 12, fin: true}
	cases := []struct {
		name    string
		isn     uint32
		pkts    []pkt
		want    string
		wantSYN bool
		wantErr string
	}{
		{"in order", 1000, []pkt{syn, hello, world, fin}, "hello world", true, ""},
		{"retransmit", 1000, []pkt{syn, hello, hello, world, fin}, "hello world", true, ""},
		{"reordered", 1000, []pkt{syn, world, hello, fin}, "hello world", true, ""},
		{"overlap", 1000, []pkt{syn, hello, {off: 4, data: "lo wor"}, world, fin}, "hello world", true, ""},
		{"sequence wraps", 1<<32 - 3, []pkt{syn, hello, world, fin}, "hello world", true, ""},
		{"no SYN captured", 1000, []pkt{hello, world, fin}, "hello world", false, ""},
		{"missing segment", 1000, []pkt{syn, world, fin}, "", true, "misses bytes 0-6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			streams, err := ReadTCPStreams(writePcap(t, c.isn, c.pkts))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || len(streams) != 1 {
				t.Fatalf("got %d streams, %v; want 1", len(streams), err)
			}
			s := streams[0]
			if string(s.Data) != c.want || s.SYN != c.wantSYN || !s.FIN || s.Src.String() != "127.0.0.1:40000" {
				t.Errorf("stream %s→%s data %q SYN %v FIN %v; want %q SYN %v FIN", s.Src, s.Dst, s.Data, s.SYN, s.FIN, c.want, c.wantSYN)
			}
		})
	}
}

func TestReadTCPStreamsPartialTail(t *testing.T) {
	path := writePcap(t, 1000, []pkt{{off: 0, syn: true}, {off: 1, data: "hello "}, {off: 7, data: "world"}})
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-3); err != nil { // tcpdump mid-write
		t.Fatal(err)
	}
	streams, err := ReadTCPStreams(path)
	if err != nil || len(streams) != 1 || string(streams[0].Data) != "hello " {
		t.Fatalf("partial last packet: streams %v, %v; want the whole packets only", streams, err)
	}
}
