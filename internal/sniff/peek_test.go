package sniff_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/sniff"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

type peekResult struct {
	r   sniff.Result
	err error
	at  time.Duration
}

func peekAsync(c net.Conn, max int, timeout time.Duration) <-chan peekResult {
	done := make(chan peekResult, 1)
	start := time.Now()
	go func() {
		r, err := sniff.Peek(c, max, timeout)
		done <- peekResult{r, err, time.Since(start)}
	}()
	return done
}

// readN reads exactly n bytes from c.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes after peeking: %v", n, err)
	}
	return b
}

// A ClientHello arriving in several segments: Peek waits for all of them,
// then every byte is still there to read.
func TestPeekClientFirstInSegments(t *testing.T) {
	hello := captureHello(t, &tls.Config{ServerName: "segments.example", NextProtos: []string{"h2"}})
	client, server := tcpPair(t)
	done := peekAsync(proxy.NewTransport(server), sniff.DefaultMax, 10*time.Second)
	third := len(hello) / 3
	for i, part := range [][]byte{hello[:third], hello[third : 2*third], hello[2*third:]} {
		if _, err := client.Write(part); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			break
		}
		select {
		case p := <-done:
			t.Fatalf("Peek returned %+v, %v after segment %d of 3", p.r, p.err, i+1)
		case <-time.After(50 * time.Millisecond): // still waiting for the rest, as it must
		}
	}
	p := <-done
	if p.err != nil || p.r.Protocol != sniff.TLS || p.r.SNI != "segments.example" || len(p.r.ALPN) != 1 {
		t.Fatalf("Peek = %+v, %v", p.r, p.err)
	}
	if got := readN(t, server, len(hello)); !bytes.Equal(got, hello) {
		t.Error("bytes read after Peek differ from those sent")
	}
}

// A server-speaks-first protocol: nothing arrives, Peek gives up at the
// timeout with Opaque, and bytes sent later are read normally.
func TestPeekServerFirst(t *testing.T) {
	client, server := tcpPair(t)
	const timeout = 100 * time.Millisecond
	p := <-peekAsync(server, sniff.DefaultMax, timeout)
	if p.err != nil || p.r.Protocol != sniff.Opaque {
		t.Fatalf("Peek = %+v, %v; want Opaque", p.r, p.err)
	}
	if p.at < timeout || p.at > 5*time.Second {
		t.Errorf("Peek returned after %s, want about %s", p.at, timeout)
	}
	if _, err := server.Write([]byte("220 ready\r\n")); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("EHLO x\r\n"))
	if got := readN(t, server, 8); string(got) != "EHLO x\r\n" {
		t.Errorf("read %q after Peek", got)
	}
}

func TestPeekEOFBeforeAnyByte(t *testing.T) {
	client, server := tcpPair(t)
	client.CloseWrite()
	p := <-peekAsync(server, sniff.DefaultMax, 10*time.Second)
	if p.err != nil || p.r.Protocol != sniff.Opaque || p.at > 5*time.Second {
		t.Fatalf("Peek = %+v, %v after %s; want Opaque at once", p.r, p.err, p.at)
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := server.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read after Peek = %d, %v; want EOF", n, err)
	}
}

func TestPeekTable(t *testing.T) {
	req := "GET /orders?id=7 HTTP/1.1\r\nHost: orders\r\n\r\n"
	tests := []struct {
		name   string
		send   string
		max    int
		want   sniff.Result
		closeW bool
	}{
		{name: "HTTP/1.1 request", send: req, max: sniff.DefaultMax, want: sniff.Result{Protocol: sniff.HTTP1, Method: "GET"}},
		{name: "request line beyond max", send: req, max: 8, want: sniff.Result{Protocol: sniff.Opaque}},
		{name: "version beyond max", send: req, max: 18, want: sniff.Result{Protocol: sniff.HTTP1, Method: "GET"}},
		{name: "HTTP/2 preface", send: sniff.HTTP2Preface, max: sniff.DefaultMax, want: sniff.Result{Protocol: sniff.HTTP2}},
		{name: "opaque", send: "\x00\x01binary", max: sniff.DefaultMax, want: sniff.Result{Protocol: sniff.Opaque}},
		{name: "half a method, then EOF", send: "GE", max: sniff.DefaultMax, closeW: true, want: sniff.Result{Protocol: sniff.Opaque}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := tcpPair(t)
			client.Write([]byte(tc.send))
			if tc.closeW {
				client.CloseWrite()
			}
			p := <-peekAsync(server, tc.max, 10*time.Second)
			if p.err != nil || p.r.Protocol != tc.want.Protocol || p.r.Method != tc.want.Method {
				t.Fatalf("Peek = %+v, %v; want %+v", p.r, p.err, tc.want)
			}
			if got := readN(t, server, len(tc.send)); string(got) != tc.send {
				t.Errorf("read %q after Peek, want %q", got, tc.send)
			}
		})
	}
}

func TestPeekNeedsASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := sniff.Peek(a, sniff.DefaultMax, time.Second); err == nil || !strings.Contains(err.Error(), "sniff.Read") {
		t.Fatalf("Peek on a pipe: %v, want an error pointing at sniff.Read", err)
	}
}

func TestPeekClosedConn(t *testing.T) {
	_, server := tcpPair(t)
	server.Close()
	if _, err := sniff.Peek(server, sniff.DefaultMax, time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Peek on a closed connection: %v, want net.ErrClosed", err)
	}
}
