package l7

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// runResponses runs the response side until it ends for good, or parks.
// woken says the upstream has something to read: parking again before
// reading it would only wake again at once.
func (c *h1conn) runResponses(woken bool) {
	if !c.serveResponses(woken) {
		close(c.respDone)
	}
}

// serveResponses is the response side of ServeHTTP1. While idle it waits
// for the upstream's next byte, so an upstream that closes an idle
// connection closes the client's too, as a relay would; with a Parker it
// parks once the connection has idled a while, and returns true (see
// park.go).
func (c *h1conn) serveResponses(woken bool) (parked bool) {
	for ; ; woken = false {
		parked, err := c.awaitUpstream(woken)
		if parked {
			return true
		}
		var ex *exchange
		select {
		case ex = <-c.queue: // queued before its request was sent: there if a response is due
		default:
		}
		switch {
		case ex == nil && err != nil:
			c.upstreamEnded(err)
			return false
		case ex == nil:
			c.fail(errors.New("l7: upstream sent bytes with no request pending"))
			c.closeBoth()
			return false
		case err != nil:
			c.upstreamFailed(ex, err)
			return false
		}
		if !c.respond(ex) {
			return false
		}
	}
}

// upstreamEnded: the upstream closed with no request pending.
func (c *h1conn) upstreamEnded(err error) {
	if err != io.EOF {
		c.fail(err)
	}
	if !c.closing.Load() {
		c.closeBoth()
	}
}

// upstreamFailed answers ex with 502, reports it and closes. When the
// upstream closed a kept-alive connection just as the request came (its idle
// timeout), the client's connection is closed without an answer instead, as
// a relay would: clients retry such requests on a new connection.
func (c *h1conn) upstreamFailed(ex *exchange, err error) {
	sendErr := ex.sendErr.Load()
	idleRace := c.served > 0 && (err == io.EOF || sendErr != nil)
	if sendErr != nil {
		err = fmt.Errorf("send request: %w", *sendErr)
	}
	ex.report.Reason = "upstream: " + err.Error()
	if idleRace {
		ex.report.Reason = "upstream closed the kept-alive connection before responding"
	}
	if !c.closing.Load() && !idleRace {
		resp := &http.Response{
			StatusCode: http.StatusBadGateway, ProtoMajor: 1, ProtoMinor: 1, Close: true,
			Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
			ContentLength: int64(len(reasonUpstream) + len("hopseal: \n")),
			Body:          io.NopCloser(strings.NewReader("hopseal: " + reasonUpstream + "\n")),
		}
		err := resp.Write(&c.toClient)
		if ferr := c.toClient.Flush(); err == nil && ferr == nil {
			ex.report.Status = http.StatusBadGateway
		}
	}
	c.finish(ex)
	c.closeBoth()
}

// respond reads ex's response and writes it to the client; false ends the
// response side.
func (c *h1conn) respond(ex *exchange) bool {
	if ex.raw {
		r, sent, err := c.respondRaw(ex)
		switch {
		case sent:
			return c.responded(ex, r.status, r.close, err)
		case err != errNotRaw:
			c.upstreamFailed(ex, err)
			return false
		}
	}
	resp, err := c.readResponse(ex)
	if err != nil {
		c.upstreamFailed(ex, err)
		return false
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return c.switchProtocols(ex, resp)
	}
	ex.report.Status = resp.StatusCode
	if ex.http10 && len(resp.TransferEncoding) > 0 {
		// An HTTP/1.0 client cannot read chunks: send the body as it comes
		// and end it by closing.
		resp.TransferEncoding, resp.ContentLength, resp.Close, resp.Trailer = nil, -1, true, nil
	}
	if resp.Body != http.NoBody {
		ex.respBody = flushBody{ReadCloser: resp.Body, from: c.uin, to: &c.toClient, n: &ex.respBytes}
		resp.Body = &ex.respBody
	}
	err = resp.Write(&c.toClient)
	if ferr := c.toClient.Flush(); err == nil {
		err = ferr
	}
	if ex.upgrade != nil {
		ex.upgrade <- false
	}
	return c.responded(ex, resp.StatusCode, resp.Close, err)
}

// responded reports ex once its response went out (or failed to) and
// says whether the connection goes on.
func (c *h1conn) responded(ex *exchange, status int, close bool, err error) bool {
	if status != 0 {
		ex.report.Status = status
	}
	if err != nil {
		ex.report.Reason = err.Error()
		c.fail(err)
	}
	c.finish(ex)
	c.answer()
	c.served++
	if err != nil || close || ex.close {
		c.closeBoth()
		return false
	}
	c.uin.release()
	return true
}

// readResponse reads the final response to ex, passing 1xx ones on.
func (c *h1conn) readResponse(ex *exchange) (*http.Response, error) {
	br := c.uin.reader()
	for {
		c.uin.headLeft = maxResponseHead
		resp, err := http.ReadResponse(br, ex.request())
		c.uin.headLeft = -1
		switch {
		case err != nil:
			return nil, err
		case resp.StatusCode < 100:
			return nil, fmt.Errorf("status %d is not an HTTP status", resp.StatusCode)
		case resp.StatusCode == http.StatusSwitchingProtocols && ex.upgrade == nil:
			return nil, errors.New("101 Switching Protocols without an upgrade request")
		case resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols:
			return resp, nil
		}
		if err := resp.Write(&c.toClient); err != nil {
			return nil, err
		}
		if err := c.toClient.Flush(); err != nil {
			return nil, err
		}
	}
}

// switchProtocols passes the 101 and what followed it to the client, then
// hands the connection to a raw relay (ServeHTTP1 runs it once both sides
// return).
func (c *h1conn) switchProtocols(ex *exchange, resp *http.Response) bool {
	ex.report.Status = resp.StatusCode
	err := resp.Write(&c.toClient)
	if ferr := c.toClient.Flush(); err == nil {
		err = ferr
	}
	if err == nil {
		err = c.uin.drainTo(c.client)
	}
	if err != nil {
		ex.report.Reason = err.Error()
		c.fail(err)
		c.closeBoth()
	}
	c.finish(ex)
	c.answer()
	ex.upgrade <- err == nil
	return false
}

// answer counts ex answered, for a refusal waiting its turn.
func (c *h1conn) answer() {
	c.pending.Add(-1)
	select {
	case c.answered <- struct{}{}:
	default:
	}
}

// request is what net/http needs to read ex's response: the method.
func (ex *exchange) request() *http.Request {
	if ex.req == nil {
		ex.req = &http.Request{Method: ex.method}
	}
	return ex.req
}
