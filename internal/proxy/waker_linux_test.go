package proxy_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/proxy"
)

// startWaker runs a Waker until the test ends.
func startWaker(t *testing.T) (*proxy.Waker, context.CancelFunc) {
	t.Helper()
	w, err := proxy.NewWaker()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w, cancel
}

// connPair is a connected pair of TCP sockets.
func connPair(t *testing.T) (local, peer net.Conn) {
	t.Helper()
	ln := benchListen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	local = benchDial(t, ln.Addr().String())
	peer = <-accepted
	t.Cleanup(func() { peer.Close() })
	return local, peer
}

func waitCalled(t *testing.T, called chan struct{}, want bool) {
	t.Helper()
	select {
	case <-called:
		if !want {
			t.Fatal("the parked function ran; want it not to")
		}
	case <-time.After(200 * time.Millisecond):
		if want {
			t.Fatal("the parked function did not run within 200ms")
		}
	}
}

func TestWakerWakesParkedSocket(t *testing.T) {
	cases := []struct {
		name string
		peer func(net.Conn)
	}{
		{"bytes", func(c net.Conn) { c.Write([]byte("x")) }},
		{"half-close", func(c net.Conn) { c.(*net.TCPConn).CloseWrite() }},
		{"reset", func(c net.Conn) { c.(*net.TCPConn).SetLinger(0); c.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := startWaker(t)
			local, peer := connPair(t)
			called := make(chan struct{})
			cancel, err := w.Park(local, func() { close(called) })
			if err != nil {
				t.Fatal(err)
			}
			waitCalled(t, called, false)
			tc.peer(peer)
			waitCalled(t, called, true)
			if cancel() {
				t.Error("cancel after the function ran returned true")
			}
		})
	}
}

func TestWakerCancel(t *testing.T) {
	w, _ := startWaker(t)
	local, peer := connPair(t)
	called := make(chan struct{})
	cancel, err := w.Park(local, func() { close(called) })
	if err != nil {
		t.Fatal(err)
	}
	if !cancel() {
		t.Fatal("cancel of a parked socket returned false")
	}
	if cancel() {
		t.Error("a second cancel returned true")
	}
	peer.Write([]byte("x"))
	waitCalled(t, called, false)
	// The socket can be parked again and still reads normally.
	again := make(chan struct{})
	if _, err := w.Park(local, func() { close(again) }); err != nil {
		t.Fatal(err)
	}
	waitCalled(t, again, true)
	if buf := make([]byte, 1); func() bool { n, err := local.Read(buf); return n != 1 || err != nil }() {
		t.Error("the byte that woke the socket was not there to read")
	}
}

// When Run ends, parked functions run (their flows go on waiting the
// ordinary way) and Park fails.
func TestWakerStopResumesParked(t *testing.T) {
	w, stop := startWaker(t)
	local, _ := connPair(t)
	called := make(chan struct{})
	if _, err := w.Park(local, func() { close(called) }); err != nil {
		t.Fatal(err)
	}
	stop()
	waitCalled(t, called, true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := w.Park(local, func() {})
		if errors.Is(err, proxy.ErrWakerClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Park after Run ended: %v; want ErrWakerClosed", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWakerManySockets(t *testing.T) {
	w, _ := startWaker(t)
	const n = 200
	called := make(chan int, n)
	var peers []net.Conn
	for i := range n {
		local, peer := connPair(t)
		if _, err := w.Park(local, func() { called <- i }); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, peer)
	}
	for _, p := range peers {
		p.Write([]byte("x"))
	}
	seen := map[int]bool{}
	for range n {
		select {
		case i := <-called:
			if seen[i] {
				t.Fatalf("socket %d woke twice", i)
			}
			seen[i] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d parked sockets woke", len(seen), n)
		}
	}
}
