package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// The app server speaks a tiny protocol. A connection's first byte picks
// the mode and is acknowledged with one byte, so the whole path (including
// any TLS handshake behind a proxy) is up before anything is timed.
const (
	modeBulk    = 'B' // client sends until it half-closes; server replies with the byte count
	modeRequest = 'R' // client sends reqSize bytes, server answers respSize bytes, repeat
	reqSize     = 64
	respSize    = 1024
)

// latencyWarmup is sent before the measured requests and not counted.
const latencyWarmup = 500 * time.Millisecond

// app is the workload behind every path.
type app struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startApp() (*app, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &app{ln: ln}
	a.wg.Go(a.serve)
	return a, nil
}

func (a *app) addr() string { return a.ln.Addr().String() }

func (a *app) close() {
	a.ln.Close()
	a.wg.Wait()
}

func (a *app) serve() {
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

func handle(c net.Conn) {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	if _, err := c.Write(mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case modeBulk:
		buf := make([]byte, 256<<10)
		var n uint64
		for {
			nr, err := c.Read(buf)
			n += uint64(nr)
			if err != nil {
				break
			}
		}
		c.Write(binary.BigEndian.AppendUint64(nil, n))
	case modeRequest:
		req, resp := make([]byte, reqSize), make([]byte, respSize)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}
}

// open connects to addr and waits for the app's acknowledgement of mode.
func open(addr string, mode byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var ack [1]byte
	if _, err := c.Write([]byte{mode}); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != mode {
		c.Close()
		return nil, fmt.Errorf("no acknowledgement from the app through %s: %v", addr, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// bulk sends as fast as possible on n streams for d and returns the rate
// in bytes per second, as counted by the app.
func bulk(ctx context.Context, addr string, streams int, d time.Duration) (float64, int64, error) {
	conns := make([]net.Conn, 0, streams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range streams {
		c, err := open(addr, modeBulk)
		if err != nil {
			return 0, 0, err
		}
		conns = append(conns, c)
	}
	chunk := make([]byte, 256<<10)
	begin := time.Now()
	stopAt := begin.Add(d)
	counts := make([]uint64, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { counts[i], errs[i] = send(ctx, c, chunk, stopAt) })
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	var total int64
	for _, n := range counts {
		total += int64(n)
	}
	return float64(total) / elapsed.Seconds(), total, nil
}

// send writes until stopAt, half-closes and reads the app's count.
func send(ctx context.Context, c net.Conn, chunk []byte, stopAt time.Time) (uint64, error) {
	for time.Now().Before(stopAt) && ctx.Err() == nil {
		if _, err := c.Write(chunk); err != nil {
			return 0, err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var count [8]byte
	if _, err := io.ReadFull(c, count[:]); err != nil {
		return 0, fmt.Errorf("read the app's byte count: %w", err)
	}
	return binary.BigEndian.Uint64(count[:]), nil
}

// latency sends requests at a fixed rate, spread round-robin over conns
// keep-alive connections, for d after a warm-up, and returns the sorted
// latencies of the requests after the warm-up. A request's clock starts when it is sent, or at its scheduled
// time if its connection was still busy then (no coordinated omission).
// window runs between the first request and the last response, while
// every connection is open.
func latency(ctx context.Context, addr string, rate, conns int, d time.Duration, window func(start bool)) ([]time.Duration, error) {
	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range conns {
		c, err := open(addr, modeRequest)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	interval := time.Second / time.Duration(rate)
	total := int((latencyWarmup + d) / interval)
	skip := int(latencyWarmup / interval)
	begin := time.Now().Add(10 * time.Millisecond)
	results := make([]time.Duration, total)
	errs := make([]error, conns)
	window(true)
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Go(func() {
			req, resp := make([]byte, reqSize), make([]byte, respSize)
			for i := k; i < total && ctx.Err() == nil; i += conns {
				at := begin.Add(time.Duration(i) * interval)
				start := at
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
					start = time.Now()
				}
				if _, err := c.Write(req); err != nil {
					errs[k] = err
					return
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					errs[k] = err
					return
				}
				results[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	window(false)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := results[skip:]
	slices.Sort(out)
	return out, nil
}

// percentile of sorted samples, p in [0, 100].
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}
