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
	"sync/atomic"
	"time"
)

// latencyWarmup is sent before the measured requests and not counted.
const latencyWarmup = 500 * time.Millisecond

// openBulk connects through p and waits for the app's acknowledgement, so
// the whole path (including any TLS handshake behind a proxy) is up before
// anything is timed.
func openBulk(p *path) (net.Conn, error) {
	c, err := p.dial()
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var ack [1]byte
	if _, err := c.Write([]byte{modeBulk}); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != modeBulk {
		c.Close()
		return nil, fmt.Errorf("no acknowledgement from the app through %s: %v", p.addr, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// openHTTP connects through p and completes one request.
func openHTTP(p *path) (*httpConn, error) {
	c, err := p.dial()
	if err != nil {
		return nil, err
	}
	h := newHTTPConn(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := h.roundTrip(httpRequest); err != nil {
		c.Close()
		return nil, fmt.Errorf("first request through %s: %w", p.addr, err)
	}
	c.SetDeadline(time.Time{})
	return h, nil
}

// bulk sends as fast as possible on n streams for d and returns the rate
// in bytes per second, as counted by the app.
func bulk(ctx context.Context, p *path, streams int, d time.Duration) (float64, int64, error) {
	conns := make([]net.Conn, 0, streams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range streams {
		c, err := openBulk(p)
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

// latency sends HTTP requests at a fixed rate, spread round-robin over
// conns keep-alive connections, for d after a warm-up, and returns the
// sorted latencies of the requests after the warm-up. A request's clock
// starts when it is sent, or at its scheduled time if its connection was
// still busy then (no coordinated omission). window runs between the
// first request and the last response, while every connection is open.
func latency(ctx context.Context, p *path, rate, conns int, d time.Duration, window func(start bool)) ([]time.Duration, error) {
	cs := make([]*httpConn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range conns {
		c, err := openHTTP(p)
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
			for i := k; i < total && ctx.Err() == nil; i += conns {
				at := begin.Add(time.Duration(i) * interval)
				start := at
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
					start = time.Now()
				}
				if err := c.roundTrip(httpRequest); err != nil {
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

// handshakes runs clients that each open a connection, send one request
// asking to close, read the response and the close, and start over, for d.
// It returns completed requests per second: each is a new TCP connection
// and, behind a proxy pair, a new mutual TLS handshake.
func handshakes(ctx context.Context, p *path, clients int, d time.Duration) (float64, error) {
	var done atomic.Int64
	errs := make([]error, clients)
	begin := time.Now()
	stopAt := begin.Add(d)
	var wg sync.WaitGroup
	for k := range clients {
		wg.Go(func() {
			errs[k] = p.from.do(func() error {
				for time.Now().Before(stopAt) && ctx.Err() == nil {
					if err := oneShot(p.addr); err != nil {
						return err
					}
					done.Add(1)
				}
				return nil
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(done.Load()) / elapsed.Seconds(), ctx.Err()
}

// oneShot is one request on a new connection; the app closes it, so the
// client's socket ends without TIME_WAIT.
func oneShot(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	h := newHTTPConn(c)
	if err := h.roundTrip(httpClose); err != nil {
		return err
	}
	if n, err := h.br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("the connection stayed open after a response to Connection: close (%d bytes, %v)", n, err)
	}
	return nil
}

// percentile of sorted samples, p in [0, 100].
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}
