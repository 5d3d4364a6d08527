package l7

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hopseal/hopseal/internal/proxy"
)

// ServeHTTP1 proxies HTTP/1.x requests from client to upstream one at a
// time (keep-alive, pipelining kept in order) until either side closes, and
// returns the bytes read from each side on the wire, prefix included.
// prefix holds bytes already read from client (by sniff.Read). It closes
// both connections before it returns.
//
// Two goroutines serve a connection, as in a relay: the caller's reads
// requests and writes them upstream, a second reads responses and writes
// them to the client. Requests pass from the first to the second through a
// queue. Only the request side refuses a request; it writes the refusal
// itself once every response before it has been written, then closes.
// After a 101 response both sides end and a plain relay carries the rest.
func ServeHTTP1(client net.Conn, prefix []byte, upstream net.Conn, opts Options) (up, down int64, err error) {
	c := &h1conn{
		opts: opts, client: client, upstream: upstream,
		cin:      newSource(client, prefix, &clientReaders),
		uin:      newSource(upstream, nil, &upstreamReaders),
		toUp:     sink{conn: upstream},
		toClient: sink{conn: client},
		queue:    make(chan *exchange, maxPipelined),
		answered: make(chan struct{}, 1),
		respDone: make(chan struct{}),
	}
	go c.runResponses(false)
	c.serveRequests()
	<-c.respDone
	up, down = c.cin.n, c.uin.n
	if c.switched {
		u, d, err := proxy.Relay(client, upstream)
		up, down = up+u, down+d
		c.fail(err)
	}
	c.closeBoth()
	c.reportUnanswered()
	return up, down, c.firstErr()
}

// maxPipelined bounds requests sent ahead of their responses.
const maxPipelined = 16

type h1conn struct {
	opts             Options
	client, upstream net.Conn
	cin, uin         *source // request side reads cin, response side uin
	toUp, toClient   sink    // request side writes toUp, response side toClient
	queue            chan *exchange
	pending          atomic.Int32  // exchanges queued and not yet answered
	answered         chan struct{} // a token each time one is answered
	respDone         chan struct{} // closed when the response side returns
	switched         bool          // a 101 was answered: relay the rest (request side only)
	served           int           // responses passed on (response side only)
	closing          atomic.Bool   // the connections are being closed on purpose
	closeOnce        sync.Once
	parkMu           sync.Mutex  // guards unpark
	unpark           func() bool // set while the response side is parked

	mu  sync.Mutex
	err error
}

// exchange is one request on its way through.
type exchange struct {
	req       *http.Request // nil on the raw path
	method    string
	http10    bool  // the request is HTTP/1.0
	close     bool  // the request ends the connection
	raw       bool  // forwarded as read (raw.go)
	headLen   int   // raw: the head's length
	bodyLen   int64 // raw: the body's Content-Length
	report    Request
	start     time.Time
	reqBytes  atomic.Int64
	respBytes atomic.Int64
	sendErr   atomic.Pointer[error] // why the request could not be sent whole
	upgrade   chan bool             // upgrade requests: whether the upstream switched
	reqBody   flushBody             // the request side's, allocated with ex
	respBody  flushBody             // the response side's
}

func (c *h1conn) serveRequests() {
	for {
		ex, herr, err := c.readRequest()
		switch {
		case err != nil:
			c.clientEnded(err)
			return
		case herr != nil:
			c.refuse(ex, herr.status, "", herr.reason)
			return
		}
		allow, rule, reason := c.opts.authorize(ex.report.Method, ex.report.Path)
		ex.report.Rule = rule
		if !allow {
			c.refuse(ex, http.StatusForbidden, rule, reason)
			return
		}
		if !c.forward(ex) {
			return
		}
		if ex.upgrade != nil {
			select {
			case c.switched = <-ex.upgrade:
			case <-c.respDone:
				return
			}
			if c.switched {
				c.fail(c.cin.drainTo(c.upstream))
				return
			}
		}
		if ex.close {
			return // the response side closes after the response
		}
	}
}

// readRequest waits for the next request, checks its head and parses it.
// A non-nil headError refuses it; err means the client ended.
func (c *h1conn) readRequest() (*exchange, *headError, error) {
	if err := c.cin.wait(); err != nil {
		return nil, nil, err
	}
	ex := &exchange{start: time.Now(), report: Request{Proto: "HTTP/1.1"}}
	br := c.cin.reader()
	n, err := peekHead(br, maxHeadLen)
	if herr, ok := err.(*headError); ok {
		head, _ := br.Peek(br.Buffered())
		describe(&ex.report, head)
		return ex, herr, nil
	}
	if err != nil {
		return nil, nil, err
	}
	head, _ := br.Peek(n)
	f, herr := inspectHead(head)
	if herr != nil {
		describe(&ex.report, head)
		return ex, herr, nil
	}
	if rawRequest(ex, &f, n) {
		return ex, nil, nil
	}
	req, err := http.ReadRequest(br)
	if err != nil {
		return ex, badHead("request head does not parse"), nil
	}
	ex.req, ex.method, ex.http10, ex.close = req, req.Method, !req.ProtoAtLeast(1, 1), req.Close
	ex.report = Request{Proto: req.Proto, Method: req.Method, Path: requestPath(req), Authority: req.Host}
	removeH2CUpgrade(req.Header)
	if isUpgrade(req.Header) {
		ex.upgrade = make(chan bool, 1)
	}
	return ex, nil, nil
}

// peekHead waits until br holds a whole message head of at most max bytes
// and returns its length.
func peekHead(br *bufio.Reader, max int) (int, error) {
	from := 0
	for {
		b, _ := br.Peek(br.Buffered())
		end, next := headEnd(b, from)
		switch {
		case end > max || end < 0 && len(b) >= max:
			return 0, errHeadTooLarge
		case end >= 0:
			return end, nil
		}
		from = next
		if _, err := br.Peek(len(b) + 1); err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
}

// describe fills method and path from a head that may not parse, for the
// report of its refusal.
func describe(r *Request, head []byte) {
	line, _, _ := strings.Cut(string(head[:min(len(head), 512)]), "\n")
	method, rest, _ := strings.Cut(line, " ")
	target, _, _ := strings.Cut(rest, " ")
	path, _, _ := strings.Cut(target, "?")
	r.Method, r.Path = sanitize(method, false), sanitize(path, false)
}

// forward queues ex for the response side and sends its request upstream.
func (c *h1conn) forward(ex *exchange) bool {
	c.pending.Add(1)
	select {
	case c.queue <- ex:
	case <-c.respDone:
		ex.report.Reason = "connection closed before the request was sent"
		c.finish(ex)
		return false
	}
	c.wakeResponses()
	readErr, err := c.writeRequest(ex)
	if ferr := c.toUp.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		sendErr := err
		ex.sendErr.Store(&sendErr)
		if readErr != nil {
			c.fail(readErr) // the client failed mid-body
			c.closeBoth()
		} else {
			c.upstream.Close() // the response side answers 502
		}
		return false
	}
	c.cin.release()
	return true
}

// writeRequest writes ex's request upstream; readErr means the client
// failed mid-body.
func (c *h1conn) writeRequest(ex *exchange) (readErr, err error) {
	if ex.raw {
		return c.writeRawRequest(ex)
	}
	req := ex.req
	if req.Body != nil && req.Body != http.NoBody {
		ex.reqBody = flushBody{ReadCloser: req.Body, from: c.cin, to: &c.toUp, n: &ex.reqBytes}
		req.Body = &ex.reqBody
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // or net/http adds its own
	}
	err = req.Write(&c.toUp)
	return ex.reqBody.readErr, err
}

// clientEnded handles the end of the client's stream between requests: a
// clean end is passed on as a half-close, as a relay would.
func (c *h1conn) clientEnded(err error) {
	if err == io.EOF {
		close(c.queue)
		closeWrite(c.upstream)
		return
	}
	c.fail(err)
	c.closeBoth()
}

// refuse answers ex itself, after all earlier responses, and closes. If
// the connection ended first, the refusal is only reported.
func (c *h1conn) refuse(ex *exchange, status int, rule, reason string) {
	ex.report.Denied, ex.report.Rule, ex.report.Reason = true, rule, reason
	for c.pending.Load() > 0 {
		select {
		case <-c.answered:
		case <-c.respDone:
			c.finish(ex)
			c.closeBoth()
			return
		}
	}
	ex.report.Status = status
	err := writeRefusal(&c.toClient, status, rule, reason)
	if ferr := c.toClient.Flush(); err == nil {
		err = ferr
	}
	c.fail(err)
	c.finish(ex)
	c.lingerClose()
}

func writeRefusal(w io.Writer, status int, rule, reason string) error {
	body := refusalBody(status, reason, rule)
	resp := &http.Response{
		StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Close: true,
		Header: http.Header{
			"Content-Type": {"text/plain; charset=utf-8"},
			DeniedHeader:   {sanitize(reason, false)},
		},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(strings.NewReader(body)),
	}
	return resp.Write(w)
}

// Lingering close: the client may still be sending (a body the refusal
// made moot); closing with unread bytes would reset the connection and
// could destroy the refusal before the client reads it.
const (
	lingerTimeout = time.Second
	lingerMax     = 256 << 10
)

func (c *h1conn) lingerClose() {
	c.closing.Store(true)
	c.stopParking()
	c.upstream.Close()
	closeWrite(c.client)
	c.client.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.CopyN(io.Discard, c.cin, lingerMax)
	c.closeBoth()
}

func (c *h1conn) closeBoth() {
	c.closing.Store(true)
	c.closeOnce.Do(func() {
		c.stopParking()
		c.client.Close()
		c.upstream.Close()
	})
}

// fail records the first error that was not caused by closing on purpose.
func (c *h1conn) fail(err error) {
	if err == nil || c.closing.Load() || errors.Is(err, net.ErrClosed) {
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *h1conn) firstErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// reportUnanswered reports requests sent but never answered because the
// connection closed first; it runs once both sides are done.
func (c *h1conn) reportUnanswered() {
	for {
		select {
		case ex, ok := <-c.queue:
			if !ok {
				return
			}
			ex.report.Reason = "connection closed before a response"
			c.finish(ex)
		default:
			return
		}
	}
}

// finish reports ex.
func (c *h1conn) finish(ex *exchange) {
	ex.report.Duration = time.Since(ex.start)
	ex.report.ReqBytes = ex.reqBytes.Load()
	ex.report.RespBytes = ex.respBytes.Load()
	c.opts.observe(ex.report)
}

func isUpgrade(h http.Header) bool {
	return len(h["Upgrade"]) > 0 && httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade")
}

// removeH2CUpgrade drops a request to switch to HTTP/2 in cleartext:
// streams after such a switch would escape per-request authorization, so
// the request goes on as HTTP/1.1.
func removeH2CUpgrade(h http.Header) {
	if httpguts.HeaderValuesContainsToken(h["Upgrade"], "h2c") {
		h.Del("Upgrade")
		h.Del("Http2-Settings")
	}
}
