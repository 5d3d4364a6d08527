//go:build !linux

package capture

import (
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// LiveSource captures from a network interface; only Linux has one.
type LiveSource struct{}

// OpenLive fails: live capture uses Linux's AF_PACKET.
func OpenLive(string) (*LiveSource, error) {
	return nil, errors.New("capture: live capture needs Linux (AF_PACKET); capture with tcpdump -w FILE and read the file")
}

func (*LiveSource) Name() string { return "" }

func (*LiveSource) Next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	return nil, gopacket.CaptureInfo{}, 0, errNoPacket
}

func (*LiveSource) Drops() uint { return 0 }

func (*LiveSource) Close() error { return nil }
