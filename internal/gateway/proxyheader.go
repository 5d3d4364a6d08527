package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
)

// maxProxyHeader bounds a PROXY header: v1 is at most 107 bytes, v2 is 16
// bytes and a block of addresses and TLVs that go-proxyproto caps.
var maxProxyHeader = 16 + int(proxyproto.MaxV2HeaderSize)

var (
	sigV1 = []byte("PROXY ")
	sigV2 = proxyproto.SIGV2

	errIncomplete = errors.New("incomplete")
)

// readProxyHeader consumes exactly the PROXY protocol (v1 or v2) header at
// the start of c's stream, and no byte more, so the ClientHello behind it
// can still be peeked at on the socket. It returns the client address the
// header carries, or nil for a LOCAL (health check) or UNKNOWN header. A
// connection without a valid header is an error: where the load balancer
// sends one, a connection without it did not come through the balancer.
func readProxyHeader(c net.Conn, deadline time.Time) (net.Addr, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, maxProxyHeader)
	n := 0
	for {
		m, err := peekMore(raw, buf, n)
		if errors.Is(err, os.ErrDeadlineExceeded) && n > 0 {
			return nil, errors.New("the PROXY header did not arrive whole before the handshake timeout")
		}
		if err != nil {
			return nil, err
		}
		if m == n {
			return nil, errors.New("the connection closed before a whole PROXY header arrived")
		}
		n = m
		h, size, err := parseProxyHeader(buf[:n])
		if errors.Is(err, errIncomplete) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := consume(raw, buf[:size]); err != nil {
			return nil, err
		}
		return clientAddr(h)
	}
}

// parseProxyHeader parses the header at the start of b and returns its
// size, or errIncomplete while b may still grow into one.
func parseProxyHeader(b []byte) (*proxyproto.Header, int, error) {
	size := 0
	switch {
	case isPrefix(b, sigV1):
		if len(b) < len(sigV1) {
			return nil, 0, errIncomplete
		}
		end := bytes.IndexByte(b, '\n')
		switch {
		case end < 0 && len(b) >= 107:
			return nil, 0, proxyproto.ErrVersion1HeaderTooLong
		case end < 0:
			return nil, 0, errIncomplete
		}
		size = end + 1
	case isPrefix(b, sigV2):
		if len(b) < 16 {
			return nil, 0, errIncomplete
		}
		size = 16 + int(binary.BigEndian.Uint16(b[14:16]))
		if size > maxProxyHeader {
			return nil, 0, proxyproto.ErrInvalidLength
		}
		if len(b) < size {
			return nil, 0, errIncomplete
		}
	default:
		return nil, 0, errors.New("the connection does not start with a PROXY protocol header (proxy_protocol is on for this listener)")
	}
	h, err := proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(b[:size]), size))
	if err != nil {
		return nil, 0, fmt.Errorf("bad PROXY header: %w", err)
	}
	return h, size, nil
}

// clientAddr is the source a PROXY header vouches for, if any.
func clientAddr(h *proxyproto.Header) (net.Addr, error) {
	if h.Command.IsLocal() || h.TransportProtocol == proxyproto.UNSPEC {
		return nil, nil
	}
	src, _, ok := h.TCPAddrs()
	if !ok {
		return nil, fmt.Errorf("the PROXY header carries a %v address, not TCP", h.TransportProtocol)
	}
	return src, nil
}

// isPrefix reports whether b and sig agree on their common length.
func isPrefix(b, sig []byte) bool {
	n := min(len(b), len(sig))
	return n > 0 && bytes.Equal(b[:n], sig[:n])
}

// peekMore peeks at the socket's queued bytes until more than n are there,
// the peer closes (then it returns n) or the read deadline passes.
func peekMore(raw syscall.RawConn, buf []byte, n int) (int, error) {
	var got int
	var perr error
	err := raw.Read(func(fd uintptr) bool {
		for {
			m, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				perr = os.NewSyscallError("recvfrom", err)
			case m == 0:
				got = n // EOF
			case m > n:
				got = m
			default:
				// Nothing new: wait for the poller (edge-triggered), which
				// wakes at the next segment.
				return false
			}
			return true
		}
	})
	if err == nil {
		err = perr
	}
	return got, err
}

// consume reads exactly len(b) bytes, which a peek showed are queued.
func consume(raw syscall.RawConn, b []byte) error {
	read := 0
	var rerr error
	err := raw.Read(func(fd uintptr) bool {
		for read < len(b) {
			m, err := syscall.Read(int(fd), b[read:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				rerr = os.NewSyscallError("read", err)
				return true
			case m == 0:
				rerr = io.ErrUnexpectedEOF
				return true
			}
			read += m
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	return err
}
