package gateway

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hopseal/hopseal/internal/l7"
)

// The fast path of HTTP/1.1 on terminate routes. The common request, a
// head that passes l7's strict checks with a Content-Length body or none,
// goes to the backend as read, less the hop-by-hop and forwarding headers
// and plus the gateway's own, over a pooled connection (mesh mTLS, or a
// reencrypt backend's TLS speaking HTTP/1.1), in the client connection's
// goroutine; its response comes back the same way.
// net/http's server, reverse proxy and transport cost most of what the
// gateway spent per request (two goroutine hand-offs, a parse and a
// re-serialisation each way), and bought nothing for such a request. At the
// first request that takes more (a chunked body, an upgrade, Expect, an
// escaped path, HTTP/1.0, a backend speaking HTTP/2), the connection
// goes to net/http for the rest of its life, with what was already read.

var (
	headReaders   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxHeaderBytes) }}
	clientWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

// h1conn is a client connection on the fast path.
type h1conn struct {
	g      *Gateway
	cs     *conn
	c      net.Conn // the public TLS connection
	in     waitReader
	br     *bufio.Reader // pooled while a request is read
	w      *bufio.Writer // pooled while a response is written
	xff    string        // the connection's client address, for X-Forwarded-For
	client string        // and as logs name it (with its port)
	rt     *route        // the route of the request being served, or nil
	// From a trusted forwarder: the request's own X-Forwarded-For and
	// -Proto, and what it forwards.
	trust   bool
	xffIn   []string
	protoIn string
	fw      forwarding
}

// serveH1 serves c until it ends, on the fast path while it can.
func (g *Gateway) serveH1(c net.Conn, cs *conn) error {
	h := &h1conn{g: g, cs: cs, c: c, in: waitReader{replayConn: replayConn{Conn: c}}, xff: clientIP(cs.client), client: addrString(cs.client), trust: cs.trusts()}
	feed := cs.listener.http
	defer h.release()
	defer h.flush()
	for {
		if !feed.idle(c, idleTimeout) {
			return nil // shutting down
		}
		var err error
		if h.br == nil || h.br.Buffered() == 0 { // else a pipelined request is there
			err = h.in.wait()
		}
		feed.busy(c)
		if err != nil {
			return nil // the client ended, or idled too long
		}
		h.rt = nil
		c.SetReadDeadline(time.Now().Add(readHeaderTimeout))
		head, err := l7.PeekRequest(h.reader(), maxHeaderBytes)
		var herr *l7.HeadError
		switch {
		case errors.As(err, &herr):
			h.refuse(herr)
			return nil
		case err != nil:
			return err
		}
		c.SetReadDeadline(time.Time{})
		x := exchange{route: cs.route.cfg.Hostname, proto: head.Proto, method: head.Method, start: time.Now()}
		if !h.fast(head, &x) {
			return h.handOff()
		}
		h.fw = cs.forwarded(h.xff, h.trust, h.xffIn, h.protoIn)
		x.client = cmp.Or(h.fw.client, h.client)
		b, a := h.choose(head, &x)
		if b != nil && b.pool == nil {
			return h.handOff() // HTTP/2 to the backend
		}
		keep, err := h.serve(head, b, a, &x)
		// Reported before the response's last bytes go out, so a client
		// that has the response finds the request in /connections.
		g.finishRequest(cs, &x)
		if ferr := h.flush(); err == nil {
			err = ferr
		}
		if !keep || err != nil {
			return err
		}
		h.release()
	}
}

// fast reports whether the fast path can forward the request (net/http
// takes the rest), and notes its trace token.
func (h *h1conn) fast(head l7.RequestHead, x *exchange) bool {
	if !head.Raw || head.Proto != "HTTP/1.1" || bytes.IndexByte(head.Path, '%') >= 0 {
		return false
	}
	ok := true
	h.xffIn, h.protoIn = h.xffIn[:0], ""
	eachHeader(h.headBytes(head), func(name, value []byte) {
		switch {
		case h.trust && bytes.EqualFold(name, []byte("X-Forwarded-For")):
			h.xffIn = append(h.xffIn, string(value))
		case h.trust && bytes.EqualFold(name, []byte("X-Forwarded-Proto")):
			h.protoIn = string(value)
		case bytes.EqualFold(name, []byte("Expect")):
			ok = false // 100-continue: net/http's transport waits for it
		case bytes.EqualFold(name, []byte("Connection")):
			for token := range bytes.SplitSeq(value, []byte(",")) {
				token = bytes.Trim(token, " \t")
				if !bytes.EqualFold(token, []byte("close")) && !bytes.EqualFold(token, []byte("keep-alive")) {
					ok = false // it names more hop-by-hop headers
				}
			}
		case bytes.EqualFold(name, []byte(TraceHeader)):
			x.trace = string(value)
		}
	})
	return ok
}

// choose picks the request's backend, or the answer that refuses it, on
// the current version of the connection's route.
func (h *h1conn) choose(head l7.RequestHead, x *exchange) (*backend, *answer) {
	x.host, x.path = string(head.Host), string(head.Path)
	rt := h.g.latestRoute(h.cs)
	if rt == nil {
		return nil, routeGone
	}
	x.route = rt.cfg.Hostname
	h.rt = rt
	return rt.choose(x.host, x.path, x.path)
}

// serve answers one request; keep says the connection may serve another.
func (h *h1conn) serve(head l7.RequestHead, b *backend, a *answer, x *exchange) (keep bool, err error) {
	if a != nil {
		return h.answer(head, x, a)
	}
	x.dest = b.cfg.Address
	return h.forward(head, b, x)
}

// forward sends the request to b and its response to the client. A pooled
// connection the backend closed meanwhile is replaced once, if nothing of
// the request was lost with it.
func (h *h1conn) forward(head l7.RequestHead, b *backend, x *exchange) (keep bool, err error) {
	for {
		mc, reused, err := b.pool.get()
		if err != nil {
			h.discard(head)
			return h.answer(head, x, backendFailed(err))
		}
		x.upstream = mc.upstream()
		resp, readErr, err := h.send(mc, head)
		if readErr != nil {
			mc.tc.Close()
			return false, readErr // the client failed mid-body
		}
		if err == nil {
			return h.respond(mc, b, head, resp, x)
		}
		mc.tc.Close()
		if !reused || head.BodyLen > 0 || isTimeout(err) {
			h.discard(head)
			return h.answer(head, x, backendFailed(err))
		}
	}
}

// send writes the request to mc and waits for its response head: a zero
// resp means only net/http can frame it (l7.ErrNeedsParse, or HTTP/1.0).
// The client's head stays in its reader until the response comes, so that
// it can be sent again.
func (h *h1conn) send(mc *pooledConn, head l7.RequestHead) (resp l7.ResponseHead, readErr, err error) {
	h.writeRequestHead(mc.bw, head)
	if head.BodyLen > 0 {
		h.br.Discard(head.Len)
		if readErr, err = l7.CopyBody(h.br, mc.bw, head.BodyLen, noCount{}); err != nil {
			return resp, readErr, err
		}
	}
	if err := mc.bw.Flush(); err != nil {
		return resp, nil, err
	}
	resp, err = l7.PeekResponse(mc.br, head.Method)
	if err == nil && resp.Proto != "HTTP/1.1" || errors.Is(err, l7.ErrNeedsParse) {
		resp, err = l7.ResponseHead{}, nil
	}
	if err != nil {
		return resp, nil, err
	}
	if head.BodyLen == 0 {
		h.br.Discard(head.Len)
	}
	return resp, nil, nil
}

// discard drops the request's head, and its body if any has not been read.
func (h *h1conn) discard(head l7.RequestHead) {
	if h.br.Buffered() >= head.Len && head.BodyLen == 0 {
		h.br.Discard(head.Len)
	}
}

// respond passes the response on to the client, interim ones first.
func (h *h1conn) respond(mc *pooledConn, b *backend, head l7.RequestHead, resp l7.ResponseHead, x *exchange) (keep bool, err error) {
	w := h.writer()
	closing := head.Close || h.cs.listener.http.shuttingDown()
	for resp.Status != 0 && resp.Status < 200 { // interim responses go out at once
		h.writeResponseHead(w, resp.Bytes, false)
		mc.br.Discard(len(resp.Bytes))
		if err := w.Flush(); err != nil {
			mc.tc.Close()
			return false, err
		}
		if resp, err = l7.PeekResponse(mc.br, head.Method); err != nil && !errors.Is(err, l7.ErrNeedsParse) {
			mc.tc.Close()
			x.status, x.reason = http.StatusBadGateway, "backend: "+err.Error()
			return false, nil
		}
	}
	if resp.Status == 0 {
		keep, err := h.respondParsed(mc, w, head, x, closing)
		mc.tc.Close()
		return keep, err
	}
	h.writeResponseHead(w, resp.Bytes, closing)
	mc.br.Discard(len(resp.Bytes))
	x.status = resp.Status
	var n counter
	readErr, err := l7.CopyBody(mc.br, w, resp.BodyLen, &n)
	x.bytes = int64(n)
	switch {
	case readErr != nil:
		x.reason = "backend: " + readErr.Error()
		mc.tc.Close()
		return false, nil // the response is cut short: only closing tells the client
	case err != nil:
		mc.tc.Close()
		return false, err
	case resp.Close:
		mc.tc.Close()
	default:
		b.pool.put(mc)
	}
	return !closing, nil
}

// respondParsed passes on a response only net/http can frame (chunked,
// ending at close, HTTP/1.0), flushing as the backend sends, so streams
// are not held back. The backend connection is not reused after it.
func (h *h1conn) respondParsed(mc *pooledConn, w *bufio.Writer, head l7.RequestHead, x *exchange, closing bool) (keep bool, err error) {
	resp, err := http.ReadResponse(mc.br, &http.Request{Method: head.Method})
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		err = errors.New("switched protocols without being asked to")
	}
	if err != nil {
		a := backendFailed(err)
		x.status, x.reason = a.status, a.reason
		writeAnswer(w, a, h.rt, true)
		return false, nil
	}
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	if h.rt.hsts != "" {
		resp.Header.Set(hstsHeader, h.rt.hsts)
	}
	endsAtClose := resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && resp.Body != http.NoBody
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	resp.Close = closing || endsAtClose
	body := &flushingBody{r: resp.Body, br: mc.br, w: w}
	resp.Body = body
	x.status = resp.StatusCode
	err = resp.Write(w)
	x.bytes = body.n
	return err == nil && !resp.Close, err
}

// flushingBody flushes the client's writer before a read from the backend
// that may block.
type flushingBody struct {
	r  io.Reader
	br *bufio.Reader
	w  *bufio.Writer
	n  int64
}

func (b *flushingBody) Read(p []byte) (int, error) {
	if b.br.Buffered() == 0 {
		if err := b.w.Flush(); err != nil {
			return 0, err
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *flushingBody) Close() error { return nil }

// answer writes a response of the gateway's own. A request body it did
// not read ends the connection.
func (h *h1conn) answer(head l7.RequestHead, x *exchange, a *answer) (keep bool, err error) {
	x.status, x.reason = a.status, a.reason
	closing := head.Close || head.BodyLen > 0 || h.cs.listener.http.shuttingDown()
	if !closing {
		h.discard(head)
	}
	writeAnswer(h.writer(), a, h.rt, closing)
	x.bytes = int64(len(a.body) + 1)
	return !closing, nil
}

func writeAnswer(w *bufio.Writer, a *answer, rt *route, closing bool) {
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(a.status))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(a.status))
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(a.body) + 1))
	w.WriteString("\r\n")
	if rt != nil && rt.hsts != "" {
		writeHeader(w, hstsHeader, rt.hsts)
	}
	if closing {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	w.WriteString(a.body)
	w.WriteByte('\n')
}

// refuse answers a head that failed the checks, and the connection ends
// once the client has had the time to read the answer.
func (h *h1conn) refuse(herr *l7.HeadError) {
	x := exchange{route: h.cs.route.cfg.Hostname, proto: "HTTP/1.1", start: time.Now()}
	h.answer(l7.RequestHead{Close: true}, &x, &answer{herr.Status, "bad request: " + herr.Reason, herr.Reason})
	h.g.finishRequest(h.cs, &x)
	h.flush()
	lingerClose(context.Background(), h.c)
}

// backendFailed is the answer to a failed exchange with the backend: 504
// on a timeout, else 502. The cause goes to the log, not to the client.
func backendFailed(err error) *answer {
	code := http.StatusBadGateway
	if isTimeout(err) {
		code = http.StatusGatewayTimeout
	}
	return &answer{code, http.StatusText(code), "backend: " + err.Error()}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeRequestHead writes the client's head as read, less the hop-by-hop
// and forwarding headers, then the gateway's X-Forwarded-* (forwarded.go),
// as net/http's path does.
func (h *h1conn) writeRequestHead(w *bufio.Writer, head l7.RequestHead) {
	b := h.headBytes(head)
	line := bytes.IndexByte(b, '\n') + 1
	w.Write(b[:line])
	eachHeaderLine(b, func(name, full []byte) {
		if !hopHeader(name) && !forwardedHeader(name) {
			w.Write(full)
		}
	})
	writeHeader(w, "X-Forwarded-For", h.fw.xff)
	w.WriteString("X-Forwarded-Host: ")
	w.Write(head.Host)
	w.WriteString("\r\n")
	writeHeader(w, "X-Forwarded-Proto", h.fw.proto)
	w.WriteString("\r\n")
}

// writeResponseHead writes the backend's head as read, less the hop-by-hop
// headers (and its HSTS, where the route sets its own).
func (h *h1conn) writeResponseHead(w *bufio.Writer, b []byte, closing bool) {
	rt := h.rt
	line := bytes.IndexByte(b, '\n') + 1
	w.Write(b[:line])
	eachHeaderLine(b, func(name, full []byte) {
		if !hopHeader(name) && !(rt.hsts != "" && bytes.EqualFold(name, []byte(hstsHeader))) {
			w.Write(full)
		}
	})
	if rt.hsts != "" {
		writeHeader(w, hstsHeader, rt.hsts)
	}
	if closing {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
}

func writeHeader(w *bufio.Writer, name, value string) {
	w.WriteString(name)
	w.WriteString(": ")
	w.WriteString(value)
	w.WriteString("\r\n")
}

// hopHeaders are those net/http's reverse proxy drops: they concern one
// connection, not the message.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func hopHeader(name []byte) bool {
	for _, h := range hopHeaders {
		if bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	return false
}

func forwardedHeader(name []byte) bool {
	for _, h := range [...]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		if bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	return false
}

func removeHopHeaders(h http.Header) {
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// eachHeaderLine calls fn with each header line of a checked head (CRLF
// line ends, no obs-fold): its name and the whole line with its CRLF.
func eachHeaderLine(head []byte, fn func(name, line []byte)) {
	head = head[bytes.IndexByte(head, '\n')+1:] // the start line
	for len(head) > 2 {
		i := bytes.IndexByte(head, '\n') + 1
		line := head[:i]
		name, _, _ := bytes.Cut(line, []byte(":"))
		fn(name, line)
		head = head[i:]
	}
}

// eachHeader calls fn with each header's name and trimmed value.
func eachHeader(head []byte, fn func(name, value []byte)) {
	eachHeaderLine(head, func(name, line []byte) {
		fn(name, bytes.Trim(line[len(name)+1:len(line)-2], " \t"))
	})
}

func (h *h1conn) headBytes(head l7.RequestHead) []byte {
	b, _ := h.br.Peek(head.Len)
	return b
}

// writer lends a pooled writer to the client while a response is written;
// flush sends what it holds and gives it back.
func (h *h1conn) writer() *bufio.Writer {
	if h.w == nil {
		h.w = clientWriters.Get().(*bufio.Writer)
		h.w.Reset(h.c)
	}
	return h.w
}

func (h *h1conn) flush() error {
	if h.w == nil {
		return nil
	}
	err := h.w.Flush()
	h.w.Reset(nil)
	clientWriters.Put(h.w)
	h.w = nil
	return err
}

// reader lends the pooled head reader, over the client's bytes.
func (h *h1conn) reader() *bufio.Reader {
	if h.br == nil {
		h.br = headReaders.Get().(*bufio.Reader)
		h.br.Reset(&h.in)
	}
	return h.br
}

// release gives the head reader back once it holds nothing unread.
func (h *h1conn) release() {
	if h.br != nil && h.br.Buffered() == 0 {
		h.br.Reset(nil)
		headReaders.Put(h.br)
		h.br = nil
	}
}

// handOff gives the connection to net/http with the bytes read so far.
func (h *h1conn) handOff() error {
	var pending []byte
	if len(h.in.pending) > 0 {
		pending = append(pending, h.in.pending...)
	}
	if h.br != nil {
		b, _ := h.br.Peek(h.br.Buffered())
		pending = append(pending, b...)
		h.br.Discard(len(b))
		h.release()
	}
	return h.cs.listener.http.serve(&replayConn{Conn: h.c, pending: pending}, h.cs)
}

// waitReader reads a client connection: waiting for a request takes a
// one-byte read, so an idle connection holds no buffer.
type waitReader struct {
	replayConn
	one [1]byte
}

func (r *waitReader) wait() error {
	if len(r.pending) > 0 {
		return nil
	}
	n, err := r.Conn.Read(r.one[:])
	if n == 1 {
		r.pending = r.one[:1]
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// replayConn reads pending before the connection.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// clientIP is the address X-Forwarded-For carries: the host part.
func clientIP(a net.Addr) string {
	s := addrString(a)
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

type counter int64

func (c *counter) Add(n int64) int64 { *c += counter(n); return int64(*c) }

type noCount struct{}

func (noCount) Add(int64) int64 { return 0 }
