package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Transport is the socket under a TLS connection. Wrap a connection in it
// before layering TLS on it (tls.Server(proxy.NewTransport(c), cfg)) and the
// relay reads ahead (several records per syscall) and sends the records of
// one write in one syscall. Any other user sees an ordinary net.Conn.
type Transport struct {
	net.Conn
	in *sockReader // nil when the connection has no socket underneath
	// nonblock, set by the relay around reads, makes Read serve only what
	// is buffered and return errWouldBlock, without a syscall, when nothing
	// is. Only the reading goroutine uses it.
	nonblock bool

	mu     sync.Mutex // guards the fields below; held across a write so records stay in order
	out    *sockWriter
	batch  *[]byte
	queued int
	expect int // queue writes until this many bytes are queued; 0: write through
}

// NewTransport wraps c; it returns c itself if it is a Transport already.
func NewTransport(c net.Conn) *Transport {
	if t, ok := c.(*Transport); ok {
		return t
	}
	return &Transport{Conn: c, in: newSockReader(c, poolBufSize), out: newSockWriter(c)}
}

func (t *Transport) Read(p []byte) (int, error) {
	if t.in == nil {
		return t.Conn.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !t.nonblock {
		if err := t.in.fill(true); err != nil {
			return 0, err
		}
	}
	b, err := t.in.peek()
	if len(b) == 0 {
		if err == nil {
			err = errWouldBlock
		}
		return 0, err
	}
	n := copy(p, b)
	t.in.consume(n)
	return n, nil
}

func (t *Transport) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.expect == 0 {
		return t.writeThrough(p)
	}
	if t.batch == nil {
		t.batch = bufPool.Get().(*[]byte)
	}
	if t.queued+len(p) > len(*t.batch) {
		// Not the records expected; keep the order and write through.
		if err := t.flushLocked(); err != nil {
			return 0, err
		}
		return t.writeThrough(p)
	}
	t.queued += copy((*t.batch)[t.queued:], p)
	if t.queued >= t.expect {
		// The last record: write inside tls.Conn.Write, so Close still
		// sees a write in flight and does not wait for it.
		if err := t.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Buffered is how many bytes the Transport has read ahead and not handed
// out yet; only the reading goroutine may ask.
func (t *Transport) Buffered() int {
	if t.in == nil {
		return 0
	}
	return t.in.w - t.in.r
}

// SyscallConn reaches the socket underneath, for socket options such as
// SO_ORIGINAL_DST and for peeking; never read or write through it.
func (t *Transport) SyscallConn() (syscall.RawConn, error) {
	sc, ok := t.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("proxy: connection has no socket")
	}
	return sc.SyscallConn()
}

// CloseWrite half-closes the connection underneath.
func (t *Transport) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// queue makes the next writes one, once n bytes are queued.
func (t *Transport) queue(n int) {
	t.mu.Lock()
	t.expect = n
	t.mu.Unlock()
}

// flush writes whatever is queued and ends the batch.
func (t *Transport) flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flushLocked()
}

func (t *Transport) flushLocked() error {
	t.expect = 0
	if t.batch == nil {
		return nil
	}
	var err error
	if t.queued > 0 {
		_, err = t.writeThrough((*t.batch)[:t.queued])
	}
	bufPool.Put(t.batch)
	t.batch, t.queued = nil, 0
	return err
}

func (t *Transport) writeThrough(p []byte) (int, error) {
	if t.out == nil {
		return t.Conn.Write(p)
	}
	return t.out.write(p)
}

// errWouldBlock is a temporary net.Error, so tls.Conn keeps the connection
// usable and the partial record it holds.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "proxy: no data ready" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

func isWouldBlock(err error) bool { return err == errWouldBlock }

// Sockets are read and written with raw syscalls inside RawConn callbacks.
// Go's sockets are non-blocking, so these calls never block, and skipping
// the runtime's syscall bookkeeping spares waking its monitor thread on
// every read and write, which on a small machine costs more than the copy
// of a small message. The poller still does all the waiting.

// sockReader reads a socket. It takes a pool buffer only when a read is
// attempted and returns it as soon as the buffer is empty, so a flow
// waiting for data holds none.
type sockReader struct {
	conn  net.Conn
	raw   syscall.RawConn
	size  int // bytes read per syscall at most
	buf   *[]byte
	r, w  int   // unread bytes are buf[r:w]
	err   error // sticky: reported once the buffered bytes are gone
	block bool
	fn    func(fd uintptr) bool // s.read, bound once: a method value per call allocates
}

// newSockReader returns nil when c has no socket underneath.
func newSockReader(c net.Conn, size int) *sockReader {
	raw := rawConn(c)
	if raw == nil {
		return nil
	}
	s := &sockReader{conn: c, raw: raw, size: size}
	s.fn = s.read
	return s
}

// fill reads if nothing is buffered or pending. Blocking, it returns once
// bytes or an error are there; otherwise it may return with neither. A
// deadline's timeout is returned, not kept: the caller may extend it.
func (s *sockReader) fill(block bool) error {
	if s.r < s.w || s.err != nil {
		return nil
	}
	s.block = block
	err := s.raw.Read(s.fn)
	if err == nil {
		return nil
	}
	s.release()
	err = renameOp(err, "read")
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return err
	}
	s.err = err
	return nil
}

func (s *sockReader) read(fd uintptr) bool {
	if s.buf == nil {
		s.buf = bufPool.Get().(*[]byte)
	}
	for {
		n, errno := rawIO(syscall.SYS_READ, fd, (*s.buf)[:s.size])
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			s.release()
			return !s.block // blocking: let the poller wait, then call again
		case errno != 0:
			s.release()
			s.err = opError("read", s.conn, errno)
		case n == 0:
			s.release()
			s.err = io.EOF
		default:
			s.r, s.w = 0, n
		}
		return true
	}
}

// peek returns the buffered bytes, or the pending error when there are none.
func (s *sockReader) peek() ([]byte, error) {
	if s.r < s.w {
		return (*s.buf)[s.r:s.w], nil
	}
	return nil, s.err
}

func (s *sockReader) consume(n int) {
	s.r += n
	if s.r >= s.w {
		s.release()
	}
}

func (s *sockReader) release() {
	if s.buf != nil {
		bufPool.Put(s.buf)
		s.buf = nil
	}
	s.r, s.w = 0, 0
}

// sockWriter writes to a socket; one goroutine at a time.
type sockWriter struct {
	conn net.Conn
	raw  syscall.RawConn
	p    []byte // still to write
	n    int
	err  error
	fn   func(fd uintptr) bool // w.write1, bound once
}

// newSockWriter returns nil when c has no socket underneath.
func newSockWriter(c net.Conn) *sockWriter {
	raw := rawConn(c)
	if raw == nil {
		return nil
	}
	w := &sockWriter{conn: c, raw: raw}
	w.fn = w.write1
	return w
}

func (w *sockWriter) write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.raw.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.p, w.err = nil, nil // keep no reference to the caller's bytes
	if err != nil {
		return n, renameOp(err, "write")
	}
	return n, nil
}

func (w *sockWriter) write1(fd uintptr) bool {
	for len(w.p) > 0 {
		n, errno := rawIO(syscall.SYS_WRITE, fd, w.p)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return false // the poller waits until the socket takes more
		case errno != 0:
			w.err = opError("write", w.conn, errno)
			return true
		}
		w.n += n
		w.p = w.p[n:]
	}
	return true
}

func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// rawIO is read(2) or write(2) on a non-blocking socket.
func rawIO(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	r, _, errno := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), 0
}

// opError reads like the net package's errors.
func opError(op string, c net.Conn, errno syscall.Errno) error {
	network := "tcp"
	if a := c.LocalAddr(); a != nil {
		network = a.Network()
	}
	return &net.OpError{Op: op, Net: network, Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

// renameOp names RawConn's "raw-read"/"raw-write" errors like Read's and Write's.
func renameOp(err error, op string) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "raw-"+op {
		oe.Op = op
	}
	return err
}
