package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
)

// LiveSource captures from a network interface through an AF_PACKET ring
// (no libpcap). Packets come without their link-layer header (SOCK_DGRAM),
// so every interface type reads alike, as raw IP.
type LiveSource struct {
	iface string
	tp    *afpacket.TPacket
}

// Live ring geometry: 16 blocks of 1 MiB hold bursts of 64 KiB (GRO) packets.
const (
	liveBlockSize = 1 << 20
	liveBlocks    = 16
	livePoll      = 200 * time.Millisecond
)

// OpenLive starts capturing on iface ("" or "any": every interface).
// It needs CAP_NET_RAW (root, usually).
func OpenLive(iface string) (*LiveSource, error) {
	if iface == "any" {
		iface = ""
	}
	if iface != "" {
		if _, err := net.InterfaceByName(iface); err != nil {
			return nil, fmt.Errorf("capture: interface %q: %w (list them with: ip -br link)", iface, err)
		}
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.SocketDgram,
		afpacket.OptBlockSize(liveBlockSize),
		afpacket.OptFrameSize(1<<16),
		afpacket.OptNumBlocks(liveBlocks),
		afpacket.OptPollTimeout(livePoll),
		afpacket.OptBlockTimeout(50*time.Millisecond),
	)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("capture on %s: %w: run as root or give the binary CAP_NET_RAW (setcap cap_net_raw+ep)", liveName(iface), err)
		}
		return nil, fmt.Errorf("capture on %s: %w", liveName(iface), err)
	}
	// Promiscuous, as tcpdump: a bridge, or a switch's mirror port, passes
	// up only frames for itself otherwise.
	if iface != "" {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture on %s: promiscuous mode: %w", liveName(iface), err)
		}
	}
	return &LiveSource{iface: iface, tp: tp}, nil
}

func liveName(iface string) string {
	if iface == "" {
		return "every interface"
	}
	return "interface " + iface
}

// Name says which interface.
func (s *LiveSource) Name() string { return liveName(s.iface) }

// Next returns the next packet, or errNoPacket after a quiet poll interval.
func (s *LiveSource) Next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	switch {
	case errors.Is(err, afpacket.ErrTimeout):
		return nil, ci, 0, errNoPacket
	case err != nil:
		return nil, ci, 0, fmt.Errorf("capture on %s: %w", s.Name(), err)
	}
	return data, ci, layers.LinkTypeRaw, nil
}

// Drops is how many packets the kernel dropped because the ring was full.
func (s *LiveSource) Drops() uint {
	v2, v3, err := s.tp.SocketStats()
	if err != nil {
		return 0
	}
	return v2.Drops() + v3.Drops()
}

// Close stops the capture.
func (s *LiveSource) Close() error {
	s.tp.Close()
	return nil
}
