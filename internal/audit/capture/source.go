package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Source yields captured packets: a file, or a live interface.
type Source interface {
	// Next returns the next packet, valid until the following call, and
	// its link type. It returns io.EOF at the end of the capture.
	Next() (data []byte, ci gopacket.CaptureInfo, link layers.LinkType, err error)
	// Name says where the packets come from: a file name or "interface eth0".
	Name() string
	Close() error
}

// File magics, as the first four bytes read little-endian.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapng      = 0x0a0d0d0a
)

// FileFormat names a capture file's format from its first bytes: "pcap",
// "pcapng", or "" when they are neither (gzip-compressed files are looked
// into by OpenFile, not here).
func FileFormat(head []byte) string {
	if len(head) < 4 {
		return ""
	}
	switch binary.LittleEndian.Uint32(head) {
	case magicPcapMicro, magicPcapNano, magicPcapMicroBE, magicPcapNanoBE:
		return "pcap"
	case magicPcapng:
		return "pcapng"
	}
	return ""
}

// OpenFile opens a pcap or pcapng file (either may be gzip-compressed),
// telling the format by its magic number rather than its name.
func OpenFile(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	s, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closer = f
	return s, nil
}

// FileSource reads packets from a capture file.
type FileSource struct {
	name   string
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	closer io.Closer
}

// NewReader reads a pcap or pcapng stream; name is used in messages.
func NewReader(r io.Reader, name string) (*FileSource, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, gerr := gzip.NewReader(br)
		if gerr != nil {
			return nil, fmt.Errorf("capture %s: gzip: %w", name, gerr)
		}
		br = bufio.NewReaderSize(gz, 1<<16)
		head, err = br.Peek(4)
	}
	if err != nil && len(head) < 4 {
		return nil, fmt.Errorf("capture %s: %d bytes is too short for a pcap or pcapng header", name, len(head))
	}
	s := &FileSource{name: name}
	switch FileFormat(head) {
	case "pcap":
		s.pcap, err = pcapgo.NewReader(br)
	case "pcapng":
		s.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{SkipUnknownVersion: true})
	default:
		return nil, fmt.Errorf("capture %s: not a pcap or pcapng file (it starts with % x): write one with tcpdump -w FILE, tshark -w FILE or kubectl sniff -o FILE", name, head)
	}
	if err != nil {
		return nil, fmt.Errorf("capture %s: bad %s header: %w", name, FileFormat(head), err)
	}
	return s, nil
}

// Name is the file's name.
func (s *FileSource) Name() string { return s.name }

// Close closes the file.
func (s *FileSource) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// Next reads the next packet. A file that ends inside a packet gives
// ErrTruncated; other damage gives an error naming the packet.
func (s *FileSource) Next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	if s.pcap != nil {
		data, ci, err := s.pcap.ZeroCopyReadPacketData()
		return data, ci, s.pcap.LinkType(), s.fileErr(err)
	}
	data, ci, err := s.ng.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, 0, s.fileErr(err)
	}
	link := s.ng.LinkType()
	if intf, ierr := s.ng.Interface(ci.InterfaceIndex); ierr == nil {
		link = intf.LinkType
	}
	return data, ci, link, nil
}

// ErrTruncated marks a capture file that ends in the middle of a packet,
// as one whose writer was killed does.
var ErrTruncated = errors.New("the file ends in the middle of a packet (was the capture cut short?)")

func (s *FileSource) fileErr(err error) error {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrTruncated
	}
	return fmt.Errorf("damaged capture file: %w", err)
}
