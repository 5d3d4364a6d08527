package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// bufSize is large enough to carry four full TLS records per read.
const bufSize = 64 << 10

// Buffers are borrowed only while bytes move, so idle flows hold none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

var errTooManyFiles = syscall.EMFILE

// Relay copies both ways until both sides are done and returns the bytes
// moved client→upstream and upstream→client. A clean end in one direction
// is passed on as a half-close; an error in either tears both down.
func Relay(client, upstream net.Conn) (up, down int64, err error) {
	var upErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		up, upErr = pipe(upstream, client)
		if upErr != nil {
			client.Close()
			upstream.Close()
		}
	}()
	down, err = pipe(client, upstream)
	if err != nil {
		client.Close()
		upstream.Close()
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

// pipe copies src to dst, then half-closes dst.
func pipe(dst, src net.Conn) (int64, error) {
	var n int64
	for {
		waitReadable(src)
		bp := bufPool.Get().(*[]byte)
		nr, rerr := src.Read(*bp)
		if nr > 0 {
			nw, werr := dst.Write((*bp)[:nr])
			n += int64(nw)
			if werr != nil {
				bufPool.Put(bp)
				return n, werr
			}
		}
		bufPool.Put(bp)
		if rerr == io.EOF {
			return n, closeWrite(dst)
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func closeWrite(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.CloseWrite(); err != nil {
			return err
		}
		c = tc.NetConn()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// waitReadable blocks until a plain socket has data, EOF or an error, without
// holding a buffer. A TLS connection may already hold decrypted bytes, so it
// is never waited on here.
func waitReadable(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var peek [1]byte
	raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, os.ErrDeadlineExceeded)
	})
}
