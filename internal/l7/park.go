package l7

import (
	"errors"
	"os"
	"time"
)

// Parking the response side of an idle HTTP/1 connection (Options.Parker):
// once no request has been pending for Options.ParkAfter, it registers the
// upstream with the Parker and its goroutine ends. It starts again on a
// new goroutine when
//   - the request side queues a request (wakeResponses), or
//   - the upstream has something to read: its end, or stray bytes, handled
//     as before (the Parker calls resumeResponses).
// Whoever unparks it (cancel returned true), or the Parker, runs it; the
// two can never both. Closing the connections unparks it first and ends
// the response side there (stopParking): a closed socket would never wake
// its Parker.

// defaultParkAfter is how long an idle connection waits for its upstream
// the ordinary way before parking. Parking at once would cost a busy
// connection a parking and a wake-up (two epoll calls and a goroutine) per
// request; a second of quiet costs only a timer.
const defaultParkAfter = time.Second

// awaitUpstream waits for the upstream's next byte or its end. With a
// Parker, once nothing has been pending for ParkAfter, it parks instead and
// returns parked. woken says the Parker just saw the upstream ready:
// parking again before reading would only wake again at once.
func (c *h1conn) awaitUpstream(woken bool) (parked bool, err error) {
	if woken || c.opts.Parker == nil || c.pending.Load() > 0 {
		return false, c.uin.wait()
	}
	after := c.opts.ParkAfter
	if after <= 0 {
		after = defaultParkAfter
	}
	c.upstream.SetReadDeadline(time.Now().Add(after))
	err = c.uin.wait()
	c.upstream.SetReadDeadline(time.Time{})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false, err
	}
	if c.park() {
		return true, nil
	}
	return false, c.uin.wait()
}

// park parks the response side if it is idle; true means its goroutine
// must return.
func (c *h1conn) park() bool {
	if c.opts.Parker == nil || c.pending.Load() > 0 || c.uin.buffered() {
		return false
	}
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	if c.closing.Load() {
		return false
	}
	cancel, err := c.opts.Parker.Park(c.upstream, c.resumeResponses)
	if err != nil {
		return false // wait the ordinary way
	}
	if c.pending.Load() > 0 {
		// A request came meanwhile; its wakeResponses saw nothing parked.
		return !cancel() // false: serve it here; true: the Parker already runs us
	}
	c.unpark = cancel
	return true
}

// wakeResponses starts the parked response side for a queued request.
func (c *h1conn) wakeResponses() {
	if c.unparked() {
		go c.runResponses(false)
	}
}

// resumeResponses is the Parker's call: the upstream has something.
func (c *h1conn) resumeResponses() {
	c.parkMu.Lock()
	c.unpark = nil
	c.parkMu.Unlock()
	c.runResponses(true)
}

// stopParking ends a parked response side before the connections close.
func (c *h1conn) stopParking() {
	if c.unparked() {
		close(c.respDone)
	}
}

// unparked cancels a parking; true means the caller now owns the response
// side.
func (c *h1conn) unparked() bool {
	c.parkMu.Lock()
	cancel := c.unpark
	c.unpark = nil
	c.parkMu.Unlock()
	return cancel != nil && cancel()
}

// buffered reports whether s holds bytes not yet read by its user.
func (s *source) buffered() bool {
	if len(s.prefix) > 0 || s.br != nil && s.br.Buffered() > 0 {
		return true
	}
	b, ok := s.conn.(interface{ Buffered() int })
	return ok && b.Buffered() > 0
}
