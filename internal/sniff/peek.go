package sniff

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultMax is enough for any ClientHello seen in practice, post-quantum
// key shares included (~1.5-2 KB), and for long HTTP request lines.
const DefaultMax = 16 << 10

// peekBufs holds DefaultMax-sized buffers: Peek's results are copied out,
// so its buffer is only needed while it runs.
var peekBufs = sync.Pool{New: func() any { b := make([]byte, DefaultMax); return &b }}

// Peek classifies what the peer of a TCP connection sent first without
// consuming it: after Peek, a Read gets every byte. It waits up to timeout
// (0: no limit) for enough bytes, and at most max bytes are examined. On
// timeout, at max bytes or at EOF it returns its best guess; Opaque when
// nothing arrived (a server-speaks-first protocol). It clears c's read
// deadline when it returns.
//
// c must reach a socket through syscall.Conn (a *net.TCPConn, or a wrapper
// such as the proxy's Transport) and nothing may have read from c yet.
func Peek(c net.Conn, max int, timeout time.Duration) (Result, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return Result{}, fmt.Errorf("sniff: %T has no socket to peek at; use sniff.Read", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return Result{}, fmt.Errorf("sniff: peek: %w", err)
	}
	if max <= 0 {
		return Result{}, fmt.Errorf("sniff: max %d must be positive", max)
	}
	buf, put := peekBuf(max)
	defer put()
	if err := setDeadline(c, timeout); err != nil {
		return Result{}, err
	}
	defer c.SetReadDeadline(time.Time{})

	p := peeker{buf: buf}
	p.fn = p.peek
	for {
		err := raw.Read(p.fn)
		if err == nil {
			err = p.err
		}
		r, more := Classify(buf[:p.n])
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return r, nil
		case err != nil:
			return r, fmt.Errorf("sniff: peek: %w", err)
		case !more || p.eof || p.n == len(buf):
			return r, nil
		}
	}
}

// peeker is the RawConn callback state: it peeks into buf and reports done
// once more bytes than before are there, at EOF, or on an error.
type peeker struct {
	buf []byte
	n   int
	eof bool
	err error
	fn  func(fd uintptr) bool
}

func (p *peeker) peek(fd uintptr) bool {
	for {
		m, _, err := syscall.Recvfrom(int(fd), p.buf, syscall.MSG_PEEK)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false // wait for the poller
		case err != nil:
			p.err = os.NewSyscallError("recvfrom", err)
			return true
		case m == 0:
			p.eof = true
			return true
		case m > p.n:
			p.n = m
			return true
		}
		// Nothing new since the last peek. A FIN behind unread bytes does
		// not show in a peek, so ask for it. The poller is edge-triggered:
		// it wakes us when the next segment arrives, not before.
		if peerClosed(fd) {
			p.eof = true
			return true
		}
		return false
	}
}

func peekBuf(max int) ([]byte, func()) {
	if max > DefaultMax {
		return make([]byte, max), func() {}
	}
	b := peekBufs.Get().(*[]byte)
	return (*b)[:max], func() { peekBufs.Put(b) }
}

func setDeadline(c net.Conn, timeout time.Duration) error {
	var d time.Time
	if timeout > 0 {
		d = time.Now().Add(timeout)
	}
	if err := c.SetReadDeadline(d); err != nil {
		return fmt.Errorf("sniff: set read deadline: %w", err)
	}
	return nil
}

// Read is Peek for streams that cannot be peeked, such as a *tls.Conn
// (whose handshake must be complete): it reads, and returns the bytes it
// consumed, which the caller must send on first. The rules are Peek's.
func Read(c net.Conn, max int, timeout time.Duration) (Result, []byte, error) {
	if max <= 0 {
		return Result{}, nil, fmt.Errorf("sniff: max %d must be positive", max)
	}
	if err := setDeadline(c, timeout); err != nil {
		return Result{}, nil, err
	}
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, min(max, 2048))
	for {
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, min(2*cap(buf), max)), buf...)
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		r, more := Classify(buf)
		switch {
		case err == io.EOF, errors.Is(err, os.ErrDeadlineExceeded):
			return r, buf, nil
		case err != nil:
			return r, buf, fmt.Errorf("sniff: read: %w", err)
		case !more || len(buf) == max:
			return r, buf, nil
		}
	}
}
