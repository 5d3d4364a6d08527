package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Waker lets a flow wait for a socket without a goroutine: Park registers
// the socket and returns at once, and Waker calls the function given once
// the socket has bytes to read, an end, or an error. Go's poller needs a
// goroutine blocked on every socket it waits for; each costs a stack
// (4 KiB at least), which for thousands of idle keep-alive connections is a
// third of a proxy's memory. A Waker serves any number of sockets with one
// goroutine, Run, which waits for an epoll instance of its own, itself
// registered with Go's poller, so nothing blocks a thread.
//
// A parked socket must not be closed before it is unparked (its cancel
// returned true, or its function was called): closing removes it from the
// epoll instance without an event, and its function would never run.
type Waker struct {
	ep   *os.File // the epoll instance; open until Run ends
	epfd int
	raw  syscall.RawConn

	mu     sync.Mutex // guards the fields below
	parked map[uint64]parkedConn
	next   uint64
	closed bool

	events  []unix.EpollEvent // Run's
	fired   []func()          // Run's
	waitErr error             // Run's
}

type parkedConn struct {
	fd int
	fn func()
}

// ErrWakerClosed is Park's error once Run has ended.
var ErrWakerClosed = errors.New("proxy: waker closed")

// NewWaker returns a Waker; Run serves it.
func NewWaker() (*Waker, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("proxy: waker: epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("proxy: waker: %w", err)
	}
	ep := os.NewFile(uintptr(fd), "waker-epoll") // non-blocking: Go's poller watches it
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("proxy: waker: %w", err)
	}
	return &Waker{ep: ep, epfd: fd, raw: raw, parked: map[uint64]parkedConn{}, events: make([]unix.EpollEvent, 64)}, nil
}

// Park calls fn on a new goroutine once c has something to read (bytes,
// an end or an error). cancel unparks c: it returns true if fn will not be
// called, false if it was called or is about to be.
func (w *Waker) Park(c net.Conn, fn func()) (cancel func() bool, err error) {
	fd, err := connFD(c)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrWakerClosed
	}
	token := w.next
	w.next++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	*(*uint64)(unsafe.Pointer(&ev.Fd)) = token // the event's 64 bits of user data
	if err := epollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return nil, fmt.Errorf("proxy: park: %w", err)
	}
	w.parked[token] = parkedConn{fd: fd, fn: fn}
	return func() bool { return w.unpark(token) != nil }, nil
}

// unpark removes token's registration and returns its function, or nil if
// it is gone already.
func (w *Waker) unpark(token uint64) func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.parked[token]
	if !ok {
		return nil
	}
	delete(w.parked, token)
	epollCtl(w.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
	return p.fn
}

// Run calls the functions of sockets that became ready until ctx ends;
// then it calls every function still parked, so their flows go on waiting
// the ordinary way, and Park fails from then on.
func (w *Waker) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { w.ep.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var err error
	for err == nil {
		if err = w.raw.Read(w.collect); err == nil {
			err = w.waitErr
		}
		for _, fn := range w.fired {
			go fn()
		}
		clear(w.fired)
		w.fired = w.fired[:0]
	}
	w.mu.Lock()
	w.closed = true
	for token, p := range w.parked {
		delete(w.parked, token)
		go p.fn()
	}
	w.mu.Unlock()
	w.ep.Close()
	if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return fmt.Errorf("proxy: waker: %w", err)
}

// collect takes every ready event without blocking; it asks the poller to
// wait once there are none.
func (w *Waker) collect(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, fd, uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			w.waitErr = os.NewSyscallError("epoll_wait", errno)
			return true
		case n == 0:
			return len(w.fired) > 0 // nothing more: run what fired, or wait
		}
		for _, ev := range w.events[:n] {
			if fn := w.unpark(*(*uint64)(unsafe.Pointer(&ev.Fd))); fn != nil {
				w.fired = append(w.fired, fn)
			}
		}
	}
}

func epollCtl(ep, op, fd int, ev *unix.EpollEvent) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

// connFD is the socket under c.
func connFD(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("proxy: park: %T has no socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fd := -1
	if err := raw.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return 0, err
	}
	return fd, nil
}
