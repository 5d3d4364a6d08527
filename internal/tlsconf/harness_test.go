package tlsconf_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// source is an x509svid.Source whose SVID a test can swap, as the agent does
// on renewal.
type source struct{ p atomic.Pointer[x509svid.SVID] }

func newSource(s *x509svid.SVID) *source {
	src := &source{}
	src.p.Store(s)
	return src
}

func (s *source) Set(svid *x509svid.SVID) { s.p.Store(svid) }

func (s *source) GetX509SVID() (*x509svid.SVID, error) {
	if v := s.p.Load(); v != nil {
		return v, nil
	}
	return nil, errors.New("test source: no SVID")
}

// accepted is the server side of one handshake.
type accepted struct {
	state tls.ConnectionState
	err   error
}

// server accepts TLS connections on loopback, reports each handshake on
// results and echoes whatever the client sends.
type server struct {
	addr    string
	results chan accepted
}

func serve(t *testing.T, conf *tls.Config) *server {
	t.Helper()
	s := &server{results: make(chan accepted, 16)}
	s.addr = testenv.ServeTCP(t, func(c net.Conn) {
		tc := tls.Server(c, conf)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := tc.HandshakeContext(ctx)
		cancel()
		s.results <- accepted{state: tc.ConnectionState(), err: err}
		if err == nil {
			io.Copy(tc, tc)
		}
	})
	return s
}

// next returns the server's view of the next handshake.
func (s *server) next(t *testing.T) accepted {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("server never finished a handshake")
		return accepted{}
	}
}

// dial connects and completes the client side of a handshake. The connection
// is closed at cleanup.
func dial(t *testing.T, addr string, conf *tls.Config) (*tls.Conn, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	tc := tls.Client(raw, conf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tc, tc.HandshakeContext(ctx)
}

// echo sends msg and reads it back. In TLS 1.3 a server's refusal of the
// client certificate reaches the client only here, after its handshake.
func echo(c *tls.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return testenv.Echo(c, msg)
}
