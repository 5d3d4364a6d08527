package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

const (
	// bufSize is what the relay moves per read: four full TLS records.
	bufSize = 64 << 10
	// poolBufSize leaves room for the TLS framing of bufSize bytes, so four
	// sealed records fit one batched write and one read-ahead.
	poolBufSize = bufSize + 1<<10
	// maxRecord is the largest TLS plaintext record; recordOverhead is what
	// TLS 1.3 adds to one (header 5, content type 1, AEAD tag 16).
	maxRecord      = 16 << 10
	recordOverhead = 22
)

// Buffers are borrowed only while bytes move, so idle flows hold none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, poolBufSize); return &b }}

var errTooManyFiles = syscall.EMFILE

// Relay copies both ways until both sides are done and returns the bytes
// moved client→upstream and upstream→client. A clean end in one direction
// is passed on as a half-close; an error in either tears both down with a
// reset, so neither peer mistakes a failure (a refusal by the far proxy,
// say) for a clean end.
func Relay(client, upstream net.Conn) (up, down int64, err error) {
	var upErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		up, upErr = pipe(upstream, client)
		if upErr != nil {
			abort(client, upstream, upErr)
		}
	}()
	down, err = pipe(client, upstream)
	if err != nil {
		abort(client, upstream, err)
	}
	wg.Wait()
	client.Close()
	upstream.Close()
	if err == nil {
		err = upErr
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil // closed by the other direction's error, already reported
	}
	return up, down, err
}

// abort tears both sides down after err: with resets, unless err is only
// a side closed by the other direction or by draining.
func abort(client, upstream net.Conn, err error) {
	if errors.Is(err, net.ErrClosed) {
		client.Close()
		upstream.Close()
		return
	}
	reset(client)
	reset(upstream)
}

// pipe copies src to dst, then half-closes dst. It picks the cheapest way to
// read src: TLS over a Transport (read-ahead, several records per write to
// dst), a socket read in place (no copy, no buffer while waiting), or a
// plain Read for anything else.
func pipe(dst, src net.Conn) (int64, error) {
	w := newSender(dst)
	if tc, t := tlsOver(src); t != nil && t.in != nil {
		return pipeTLS(w, tc, t)
	}
	if t, ok := src.(*Transport); ok && t.in != nil {
		t.in.size = bufSize // plaintext: reads must seal into one batch
		return pipeSocket(w, t.in)
	}
	if s := newSockReader(src, bufSize); s != nil {
		return pipeSocket(w, s)
	}
	return pipeConn(w, src)
}

// pipeSocket sends bytes straight from the socket reader's buffer.
func pipeSocket(w sender, s *sockReader) (int64, error) {
	var n int64
	for {
		if err := s.fill(true); err != nil {
			return n, err
		}
		b, err := s.peek()
		if len(b) > 0 {
			nw, werr := w.send(b)
			n += int64(nw)
			s.consume(len(b))
			if werr != nil {
				return n, werr
			}
			continue
		}
		if err == io.EOF {
			return n, w.closeWrite()
		}
		return n, err
	}
}

// pipeTLS decrypts the records already received, up to bufSize, and sends
// them in one write. Once TLS has asked for bytes the Transport does not
// have (errWouldBlock), neither holds any, and it waits on the socket
// without holding a buffer.
func pipeTLS(w sender, tc *tls.Conn, t *Transport) (int64, error) {
	src := &tlsSource{tc: tc, t: t}
	return pump(w, src.wait, src.read)
}

// tlsSource reads decrypted records for pipeTLS.
type tlsSource struct {
	tc      *tls.Conn
	t       *Transport
	drained bool // TLS is known to hold no undelivered bytes
}

func (s *tlsSource) wait() error {
	if !s.drained {
		return nil
	}
	return s.t.in.fill(true)
}

func (s *tlsSource) read(buf []byte) (int, error) {
	n, err := readRecords(s.tc, s.t, buf)
	if s.drained = isWouldBlock(err); s.drained {
		err = nil
	}
	return n, err
}

// readRecords decrypts what has been received, without a syscall, while
// buf has room for another record. It ends with errWouldBlock once TLS
// needs bytes that have not arrived.
func readRecords(tc *tls.Conn, t *Transport, buf []byte) (int, error) {
	t.nonblock = true
	defer func() { t.nonblock = false }()
	n, err := tc.Read(buf)
	for err == nil && len(buf)-n >= maxRecord {
		var m int
		m, err = tc.Read(buf[n:])
		n += m
	}
	return n, err
}

// pipeConn is the fallback for connections without a socket underneath.
func pipeConn(w sender, src net.Conn) (int64, error) {
	return pump(w, nil, src.Read)
}

// pump moves bytes from read to w until EOF or an error. wait, if set,
// blocks until read has something, so no buffer is held while idle.
func pump(w sender, wait func() error, read func([]byte) (int, error)) (int64, error) {
	var n int64
	for {
		if wait != nil {
			if err := wait(); err != nil {
				return n, err
			}
		}
		bp := bufPool.Get().(*[]byte)
		nr, rerr := read((*bp)[:bufSize])
		var werr error
		if nr > 0 {
			var nw int
			nw, werr = w.send((*bp)[:nr])
			n += int64(nw)
		}
		bufPool.Put(bp)
		switch {
		case werr != nil:
			return n, werr
		case rerr == io.EOF:
			return n, w.closeWrite()
		case rerr != nil:
			return n, rerr
		}
	}
}

// sender writes to one side of a flow; over a Transport, the TLS records
// of one send leave in one syscall.
type sender struct {
	conn net.Conn
	tls  *tls.Conn
	t    *Transport
	sock *sockWriter // for a plain socket
}

func newSender(c net.Conn) sender {
	tc, t := tlsOver(c)
	w := sender{conn: c, tls: tc, t: t}
	if _, ok := c.(*net.TCPConn); ok {
		w.sock = newSockWriter(c)
	}
	return w
}

func (w sender) send(p []byte) (int, error) {
	if w.t == nil {
		if w.sock != nil {
			return w.sock.write(p)
		}
		return w.conn.Write(p)
	}
	w.t.queue(sealedLen(len(p)))
	n, err := w.tls.Write(p)
	if ferr := w.t.flush(); err == nil && ferr != nil {
		err = ferr
	}
	return n, err
}

func (w sender) closeWrite() error {
	c := w.conn
	if w.tls != nil {
		if err := w.tls.CloseWrite(); err != nil {
			return err
		}
		c = w.tls.NetConn()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); !errors.Is(err, syscall.ENOTCONN) {
			return err
		}
		// The peer already dropped the connection: nothing left to half-close.
	}
	return nil
}

// sealedLen is the size of n bytes of plaintext as TLS 1.3 records.
func sealedLen(n int) int {
	return n + (n+maxRecord-1)/maxRecord*recordOverhead
}

// tlsOver returns c as a TLS connection and the Transport under it, if any.
func tlsOver(c net.Conn) (*tls.Conn, *Transport) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil, nil
	}
	t, _ := tc.NetConn().(*Transport)
	return tc, t
}
