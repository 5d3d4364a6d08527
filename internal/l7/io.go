package l7

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Buffers come from pools and are held only while a message moves: an idle
// keep-alive connection waits for its next byte with none.
const (
	clientReaderSize   = maxHeadLen // a whole head must fit, to be checked before parsing
	upstreamReaderSize = 16 << 10
	writerSize         = 8 << 10
	maxResponseHead    = 1 << 20
)

var (
	clientReaders   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientReaderSize) }}
	upstreamReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, upstreamReaderSize) }}
	writers         = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writerSize) }}
)

var errResponseHeadTooLarge = errors.New("response head is over 1 MiB")

// source reads one side of the flow: first the bytes already read from it
// (prefix), then the connection. It counts what it reads off the wire and
// lends a pooled bufio.Reader while a message is in flight. One goroutine
// uses it at a time.
type source struct {
	conn     net.Conn
	prefix   []byte
	n        int64 // bytes read from the connection, prefix included
	headLeft int64 // >= 0: reads fail past this many more bytes
	one      [1]byte
	br       *bufio.Reader
	pool     *sync.Pool
}

func newSource(c net.Conn, prefix []byte, pool *sync.Pool) *source {
	return &source{conn: c, prefix: prefix, n: int64(len(prefix)), headLeft: -1, pool: pool}
}

func (s *source) Read(p []byte) (int, error) {
	if len(s.prefix) > 0 {
		n := copy(p, s.prefix)
		s.prefix = s.prefix[n:]
		return n, nil
	}
	if s.headLeft == 0 {
		return 0, errResponseHeadTooLarge
	}
	if s.headLeft > 0 && int64(len(p)) > s.headLeft {
		p = p[:s.headLeft]
	}
	n, err := s.conn.Read(p)
	s.n += int64(n)
	if s.headLeft > 0 {
		s.headLeft -= int64(n)
	}
	return n, err
}

// wait blocks until the next byte is there or the stream ends, holding no
// buffer meanwhile.
func (s *source) wait() error {
	if len(s.prefix) > 0 || s.br != nil && s.br.Buffered() > 0 {
		return nil
	}
	for {
		n, err := s.conn.Read(s.one[:])
		if n == 1 {
			s.n++
			s.prefix = s.one[:1]
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// reader lends the pooled reader, over s.
func (s *source) reader() *bufio.Reader {
	if s.br == nil {
		s.br = s.pool.Get().(*bufio.Reader)
		s.br.Reset(s)
	}
	return s.br
}

// release returns the reader to its pool once it holds nothing unread.
func (s *source) release() {
	if s.br != nil && s.br.Buffered() == 0 {
		s.br.Reset(nil)
		s.pool.Put(s.br)
		s.br = nil
	}
}

// drainTo writes out whatever s holds unread, ahead of a raw relay, and
// gives back the reader.
func (s *source) drainTo(c net.Conn) error {
	if s.br != nil && s.br.Buffered() > 0 {
		b, _ := s.br.Peek(s.br.Buffered())
		if _, err := c.Write(b); err != nil {
			return err
		}
		s.br.Discard(len(b))
	}
	s.release()
	if len(s.prefix) > 0 {
		if _, err := c.Write(s.prefix); err != nil {
			return err
		}
		s.prefix = nil
	}
	return nil
}

// sink buffers writes to one side through a pooled bufio.Writer, given
// back at each Flush. It has WriteByte and WriteString so net/http writes
// into it without adding a buffer of its own, and no ReadFrom, so bodies
// are copied through net/http's pooled buffers and sink may be flushed
// while a body is read.
type sink struct {
	conn net.Conn
	bw   *bufio.Writer
}

func (s *sink) w() *bufio.Writer {
	if s.bw == nil {
		s.bw = writers.Get().(*bufio.Writer)
		s.bw.Reset(s.conn)
	}
	return s.bw
}

func (s *sink) Write(p []byte) (int, error)       { return s.w().Write(p) }
func (s *sink) WriteString(p string) (int, error) { return s.w().WriteString(p) }
func (s *sink) WriteByte(c byte) error            { return s.w().WriteByte(c) }

func (s *sink) Flush() error {
	if s.bw == nil {
		return nil
	}
	err := s.bw.Flush()
	s.bw.Reset(nil)
	writers.Put(s.bw)
	s.bw = nil
	return err
}

// flushBody is a message body that flushes the other side's writer before
// a read that may block, so whatever was written (a request head awaiting
// 100 Continue, an event of a stream) is not held back; and counts bytes.
type flushBody struct {
	io.ReadCloser
	from    *source
	to      *sink
	n       *atomic.Int64
	readErr error // the reading side failed (not the flush)
}

func (b *flushBody) Read(p []byte) (int, error) {
	if len(b.from.prefix) == 0 && (b.from.br == nil || b.from.br.Buffered() == 0) {
		if err := b.to.Flush(); err != nil {
			return 0, err
		}
	}
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	return n, err
}

// closeWrite half-closes c if it can, so the peer sees the end: for TLS,
// close_notify and then the socket's write side, as the relay does.
func closeWrite(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		tc.CloseWrite()
		c = tc.NetConn()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
