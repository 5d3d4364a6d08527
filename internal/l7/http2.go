package l7

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// ServeHTTP2 proxies HTTP/2 with prior knowledge (h2c) from client to
// upstream, stream by stream over one upstream connection, until either
// side closes, and returns the bytes read from each side on the wire
// (prefix included). A denied stream gets its 403; the others go on. It
// closes both connections before it returns.
func ServeHTTP2(client net.Conn, prefix []byte, upstream net.Conn, opts Options) (up, down int64, err error) {
	cin := &countConn{Conn: client, prefix: prefix}
	cin.n.Store(int64(len(prefix)))
	// When the upstream connection ends, so does the client's, as with a relay.
	uin := &countConn{Conn: upstream, onErr: func() { client.Close() }}
	tr := &http2.Transport{AllowHTTP: true, StrictMaxConcurrentStreams: true, DisableCompression: true}
	cc, err := tr.NewClientConn(uin)
	if err != nil {
		client.Close()
		upstream.Close()
		return cin.n.Load(), uin.n.Load(), fmt.Errorf("l7: HTTP/2 upstream: %w", err)
	}
	h := &h2handler{cc: cc, opts: opts}
	h.cond = sync.NewCond(&h.mu)
	srv := &http2.Server{}
	srv.ServeConn(cin, &http2.ServeConnOpts{
		Handler:    h,
		BaseConfig: &http.Server{ErrorLog: log.New(io.Discard, "", 0)},
	})
	cc.Close()
	h.wait()
	client.Close()
	upstream.Close()
	return cin.n.Load(), uin.n.Load(), nil
}

// countConn counts the bytes read through it, serves prefix first, and
// hides everything of the connection but net.Conn (TLS state included:
// the HTTP/2 inside is cleartext to this proxy).
type countConn struct {
	net.Conn
	prefix []byte // read by one goroutine only: the HTTP/2 server's reader
	n      atomic.Int64
	onErr  func()
}

func (c *countConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	if err != nil && c.onErr != nil {
		c.onErr()
	}
	return n, err
}

// h2handler forwards each stream to the upstream connection.
type h2handler struct {
	cc   *http2.ClientConn
	opts Options

	mu     sync.Mutex // guards active and closed
	cond   *sync.Cond
	active int
	closed bool
}

// enter admits a stream's handler unless the connection is done.
func (h *h2handler) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.active++
	return true
}

func (h *h2handler) leave() {
	h.mu.Lock()
	h.active--
	h.cond.Broadcast()
	h.mu.Unlock()
}

// wait lets no new handler in and waits for those running.
func (h *h2handler) wait() {
	h.mu.Lock()
	h.closed = true
	for h.active > 0 {
		h.cond.Wait()
	}
	h.mu.Unlock()
}

func (h *h2handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.enter() {
		panic(http.ErrAbortHandler)
	}
	defer h.leave()
	rep := Request{Proto: r.Proto, Method: r.Method, Path: requestPath(r), Authority: r.Host}
	start := time.Now()
	var reqBytes atomic.Int64
	defer func() {
		rep.Duration, rep.ReqBytes = time.Since(start), reqBytes.Load()
		h.opts.observe(rep)
	}()
	if r.Method == http.MethodConnect {
		refuseStream(w, &rep, http.StatusMethodNotAllowed, "", reasonConnect)
		return
	}
	allow, rule, reason := h.opts.authorize(rep.Method, rep.Path)
	rep.Rule = rule
	if !allow {
		refuseStream(w, &rep, http.StatusForbidden, rule, reason)
		return
	}
	resp, err := h.cc.RoundTrip(outgoing(r, &reqBytes))
	if err != nil {
		rep.Reason = "upstream: " + err.Error()
		rep.Status = http.StatusBadGateway
		http.Error(w, "hopseal: "+reasonUpstream, http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	h.copyResponse(w, r, resp, &rep)
}

// outgoing is r as a request to the upstream: same method, path, authority,
// headers, body and trailers.
func outgoing(r *http.Request, n *atomic.Int64) *http.Request {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if _, ok := r.Header["User-Agent"]; !ok {
		r.Header["User-Agent"] = []string{""} // or the transport adds its own
	}
	out := &http.Request{
		Method: r.Method, URL: u, Host: r.Host, Header: r.Header, Trailer: r.Trailer,
		Proto: r.Proto, ProtoMajor: 2, ContentLength: r.ContentLength, Body: http.NoBody,
	}
	if r.ContentLength != 0 {
		out.Body = &countBody{ReadCloser: r.Body, n: n}
	}
	return out.WithContext(r.Context())
}

// copyResponse streams resp to w, flushing as data comes, with trailers.
// An upstream failure after the headers resets the stream.
func (h *h2handler) copyResponse(w http.ResponseWriter, r *http.Request, resp *http.Response, rep *Request) {
	dst := w.Header()
	for k, vv := range resp.Header {
		dst[k] = vv
	}
	rep.Status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	if resp.ContentLength != 0 && r.Method != http.MethodHead {
		// The headers go now, whenever the body comes. Without a body,
		// they go with the end of the stream: gRPC's trailers-only
		// responses must keep that shape.
		rc.Flush()
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		n, err := resp.Body.Read(*buf)
		if n > 0 {
			rep.RespBytes += int64(n)
			if _, werr := w.Write((*buf)[:n]); werr != nil {
				rep.Reason = "client: " + werr.Error()
				return
			}
			rc.Flush()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rep.Reason = "upstream: " + err.Error()
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vv
	}
}

func refuseStream(w http.ResponseWriter, rep *Request, status int, rule, reason string) {
	rep.Status, rep.Denied, rep.Reason = status, true, reason
	w.Header().Set(DeniedHeader, sanitize(reason, false))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, refusalBody(status, reason, rule))
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
