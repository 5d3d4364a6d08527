package testenv

import (
	"io"
	"net"
	"testing"
	"time"
)

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Cleanup ends a handler still reading an open connection, waits for it,
// and stops accepting.
func TestServeConnsCleanupEndsHandlers(t *testing.T) {
	l := listenLoopback(t)
	started, ended := make(chan struct{}), make(chan struct{})
	var client net.Conn
	t.Run("serve", func(t *testing.T) {
		ServeConns(t, l, func(c net.Conn) {
			close(started)
			io.Copy(io.Discard, c) // until cleanup closes c
			close(ended)
		})
		var err error
		if client, err = net.Dial("tcp", l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() }) // runs after ServeConns' cleanup
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("no handler for the connection within 5 s")
		}
	})
	select {
	case <-ended:
	default:
		t.Fatal("cleanup returned while the handler still ran")
	}
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after cleanup")
	}
}

// The echo app sends back what it got and records the connection.
func TestServeEchoRecordsConnections(t *testing.T) {
	a := serveEcho(t, listenLoopback(t))
	got, err := RoundTrip(a.Addr, []byte("hopseal"), 5*time.Second)
	if err != nil || string(got) != "hopseal" {
		t.Fatalf("round trip: %q, %v; want the payload back", got, err)
	}
	Eventually(t, 5*time.Second, "the echo app to record the connection", func() bool { return len(a.Seen()) == 1 })
	if s := a.Seen()[0]; s.Bytes != len("hopseal") || a.Conns() != 1 {
		t.Errorf("seen %+v, %d connections; want 7 bytes over 1", s, a.Conns())
	}
}
