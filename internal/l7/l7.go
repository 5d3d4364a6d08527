// Package l7 proxies HTTP between a client and an upstream connection that
// are already open, request by request, so each request can be authorized
// and reported: HTTP/1.x with keep-alive, upgrades and 100-continue, and
// HTTP/2 with prior knowledge (h2c), stream by stream.
//
// Every HTTP/1 request head first passes a strict check of its raw bytes,
// so the client, this proxy and the upstream cannot disagree on where a
// request ends (request smuggling). The common message (a checked head and
// a Content-Length body) is then forwarded as read (raw.go); the rest is
// parsed and written out again by net/http. HTTP/2 framing is
// golang.org/x/net/http2's.
package l7

import (
	"net"
	"net/http"
	"strings"
	"time"
)

// Request is one HTTP exchange, reported when it ends.
type Request struct {
	Proto     string // "HTTP/1.1", "HTTP/2.0"
	Method    string
	Path      string // the request-target's path as forwarded, escaped, without the query
	Authority string
	Status    int  // the status sent to the client (403 when denied, 502 when the upstream failed); 0 if none
	Denied    bool // refused by Authorize or by the protocol checks; the upstream never saw it
	Rule      string
	Reason    string        // why denied, or why it failed
	Duration  time.Duration // from the request head to the end of the response
	ReqBytes  int64         // request body bytes
	RespBytes int64         // response body bytes
}

// Options tune ServeHTTP1 and ServeHTTP2.
type Options struct {
	// Authorize decides each request; nil allows everything. path is
	// Request.Path, exactly the path the upstream gets if it allows, so
	// its decision holds for what is sent; making it canonical (dot
	// segments, escapes) is Authorize's job. It may be called from several
	// goroutines at once (HTTP/2 streams).
	Authorize func(method, path string) (allow bool, rule, reason string)
	// Observe receives each finished request; it must not block. It may
	// be called from several goroutines at once.
	Observe func(Request)
	// Parker, if set, lets the response side of an idle HTTP/1 connection
	// wait for the upstream without a goroutine of its own (proxy.Waker):
	// thousands of idle keep-alive connections then cost a stack each
	// instead of two.
	Parker Parker
	// ParkAfter is how long a connection must idle before it parks
	// (default 1 s).
	ParkAfter time.Duration
}

// Parker calls fn on a new goroutine once c has something to read (bytes,
// an end or an error). cancel undoes Park; it returns true if fn will not
// be called. c must not be closed while parked.
type Parker interface {
	Park(c net.Conn, fn func()) (cancel func() bool, err error)
}

func (o *Options) authorize(method, path string) (bool, string, string) {
	if o.Authorize == nil {
		return true, "", ""
	}
	return o.Authorize(method, path)
}

func (o *Options) observe(r Request) {
	if o.Observe != nil {
		o.Observe(r)
	}
}

// DeniedHeader carries the reason of a refusal to the client.
const DeniedHeader = "X-Hopseal-Denied"

// Reasons for refusals that are not policy decisions.
const (
	reasonConnect  = "CONNECT tunnels are not proxied"
	reasonUpstream = "upstream connection failed"
)

// refusalBody is the short text a refused client reads.
func refusalBody(status int, reason, rule string) string {
	var b strings.Builder
	b.WriteString("hopseal: ")
	b.WriteString(strings.ToLower(http.StatusText(status)))
	b.WriteString(": ")
	b.WriteString(reason)
	if rule != "" {
		b.WriteString(" (rule ")
		b.WriteString(rule)
		b.WriteString(")")
	}
	b.WriteString("\n")
	return sanitize(b.String(), true)
}

// sanitize keeps a reason printable ASCII, so it is safe in a header and
// in logs; newline is kept only in bodies.
func sanitize(s string, body bool) string {
	ok := true
	for i := 0; i < len(s) && ok; i++ {
		ok = s[i] >= 0x20 && s[i] < 0x7f || body && s[i] == '\n'
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 0x20 && c < 0x7f || body && c == '\n') {
			b[i] = '?'
		}
	}
	return string(b)
}

// requestPath is the path and the upstream gets: the
// escaped path that net/http writes out, without the query.
func requestPath(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	if r.URL.Opaque != "" {
		return r.URL.Opaque
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/" // what net/http sends for an empty path
}
