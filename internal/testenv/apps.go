package testenv

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// HashServer starts a TCP server that reads each connection to EOF, then
// answers with the SHA-256 of everything it read (32 raw bytes) and closes.
// A stream relayed intact gets back the hash its sender computed.
func HashServer(t testing.TB) string {
	t.Helper()
	return ServeTCP(t, func(c net.Conn) {
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			return
		}
		c.Write(h.Sum(nil))
	})
}

// ServeTCP runs handle for each connection on a loopback listener until
// test cleanup (see ServeConns) and returns its address.
func ServeTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ServeConns(t, l, handle)
	return l.Addr().String()
}

// ServeConns runs handle for each connection l accepts, each in its own
// goroutine, and closes the connection when handle returns. Test cleanup
// closes l and the connections still open, so blocked handlers return,
// and waits for them.
func ServeConns(t testing.TB, l net.Listener, handle func(net.Conn)) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards conns
		conns = map[net.Conn]struct{}{}
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); c.Close() }()
				handle(c)
			})
		}
	})
}

// RoundTrip dials addr, sends payload, half-closes and returns everything
// the server sent back before closing.
func RoundTrip(addr string, payload []byte, timeout time.Duration) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return roundTripOn(c, payload, timeout)
}

// roundTripOn is RoundTrip on a connection it closes. A read error (such
// as a reset) wins over a write error, which it usually causes.
func roundTripOn(c net.Conn, payload []byte, timeout time.Duration) ([]byte, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, rerr := io.ReadAll(c)
	if werr := <-errc; werr != nil && rerr == nil {
		rerr = werr
	}
	return got, rerr
}

// Echo writes msg to an echoing peer and checks that it comes back intact.
func Echo(c net.Conn, msg string) error {
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo: sent %q, got %q", msg, buf)
	}
	return nil
}
