package gateway_test

import (
	"io"
	"net"
	"sync"
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
	var wg sync.WaitGroup
	var mu sync.Mutex // guards open
	open := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			open[c] = true
		} else {
			delete(open, c)
		}
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				up, err := to.Dial("tcp", addr, 5*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				track(c, true)
				track(up, true)
				defer track(c, false)
				defer track(up, false)
				relay(c, up)
			})
		}
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
