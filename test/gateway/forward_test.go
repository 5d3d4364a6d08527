package gateway_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// portForward listens on the loopback of pod from and relays each
// connection to addr inside pod to, as `kubectl port-forward` reaches an
// admin endpoint that listens only on a pod's loopback. Neither side is
// on the bridge, so the forwarded admin traffic is not in the capture.
func portForward(t *testing.T, from, to *testenv.Pod, addr string) string {
	t.Helper()
	ln := from.Listen(t, "tcp", "127.0.0.1:0")
	// Cleanup closes the client's side, which ends relay and so up.
	testenv.ServeConns(t, ln, func(c net.Conn) {
		up, err := to.Dial("tcp", addr, 5*time.Second)
		if err != nil {
			return
		}
		defer up.Close()
		relay(c, up)
	})
	return ln.Addr().String()
}

// relay copies both ways until either side is done.
func relay(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}
