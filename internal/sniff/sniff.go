// Package sniff tells what protocol a client speaks from the first bytes of
// its stream: a TLS ClientHello (with its SNI and ALPN), an HTTP/1.x request
// line, the HTTP/2 prior-knowledge preface, or anything else (opaque TCP).
//
// Detection is lenient on purpose: whatever an HTTP server might accept as
// a request is reported as HTTP, so that a strict HTTP proxy, not a raw
// relay, handles it. Strictness belongs to the proxy that parses it.
package sniff

import "errors"

// Protocol is what a stream's first bytes look like.
type Protocol string

const (
	TLS    Protocol = "tls"   // a TLS ClientHello (app TLS, or hopseal's own mTLS)
	HTTP1  Protocol = "http1" // an HTTP/1.x request line
	HTTP2  Protocol = "http2" // the HTTP/2 prior-knowledge preface
	Opaque Protocol = "tcp"   // anything else, or nothing within the detection timeout
)

// Result is what Classify learned.
type Result struct {
	Protocol Protocol
	SNI      string   // TLS: server_name, if sent
	ALPN     []string // TLS: offered protocols, in order
	Method   string   // HTTP1: request method
}

// HTTP2Preface is what an HTTP/2 client with prior knowledge sends first.
const HTTP2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

const (
	maxMethodLen  = 32 // longer "methods" are not HTTP in practice
	maxVersionLen = len("HTTP/") + 8
)

// Classify decides from a stream's first bytes. more is true while the
// bytes so far are a valid prefix of something it recognises and more bytes
// could change the answer; r is then the best guess so far, which is what
// to use if no more bytes come. Once more is false, appending bytes never
// changes the answer.
func Classify(b []byte) (r Result, more bool) {
	if len(b) == 0 {
		return Result{Protocol: Opaque}, true
	}
	if b[0] == recordTypeHandshake {
		return classifyTLS(b)
	}
	h2, h2more := classifyH2(b)
	if h2 {
		return Result{Protocol: HTTP2}, false
	}
	h1, h1more := classifyHTTP1(b)
	switch {
	case h1more || h2more:
		return h1, true
	case h1.Protocol == HTTP1:
		return h1, false
	}
	return Result{Protocol: Opaque}, false
}

func classifyTLS(b []byte) (Result, bool) {
	h, err := ParseClientHello(b)
	if errors.Is(err, ErrIncomplete) {
		return Result{Protocol: TLS}, true
	}
	if err != nil {
		return Result{Protocol: Opaque}, false
	}
	return Result{Protocol: TLS, SNI: h.ServerName, ALPN: h.ALPN}, false
}

// classifyH2 reports whether b starts with the whole preface, or may still.
func classifyH2(b []byte) (match, more bool) {
	n := min(len(b), len(HTTP2Preface))
	if string(b[:n]) != HTTP2Preface[:n] {
		return false, false
	}
	return n == len(HTTP2Preface), n < len(HTTP2Preface)
}

// classifyHTTP1 matches a request line, leniently:
// token SP target SP "HTTP/" [0-9.]+ [CR] LF.
// The guess while more is HTTP1 once a method and a space are seen.
func classifyHTTP1(b []byte) (Result, bool) {
	opaque := Result{Protocol: Opaque}
	i := 0
	for i < len(b) && i <= maxMethodLen && isTchar(b[i]) {
		i++
	}
	switch {
	case i == len(b) && i <= maxMethodLen:
		return opaque, true
	case i == 0 || i > maxMethodLen || b[i] != ' ':
		return opaque, false
	}
	guess := Result{Protocol: HTTP1, Method: string(b[:i])}
	rest := b[i+1:]
	t := 0
	for t < len(rest) && rest[t] != ' ' && rest[t] != '\r' && rest[t] != '\n' {
		t++
	}
	switch {
	case t == len(rest):
		// Two words are no request line yet: if nothing more comes, the
		// stream is opaque, lest a non-HTTP protocol be sent to the HTTP proxy.
		return opaque, true
	case t == 0 || rest[t] != ' ':
		return opaque, false
	}
	if !versionPrefix(rest[t+1:]) {
		return opaque, false
	}
	v := rest[t+1:]
	if j := indexLF(v); j >= 0 {
		return guess, false
	}
	return guess, true
}

// versionPrefix reports whether v may begin `"HTTP/" [0-9.]+ [CR] LF`.
func versionPrefix(v []byte) bool {
	const name = "HTTP/"
	n := min(len(v), len(name))
	if string(v[:n]) != name[:n] {
		return false
	}
	digits := 0
	for i := len(name); i < len(v); i++ {
		c := v[i]
		switch {
		case '0' <= c && c <= '9' || c == '.':
			digits++
			if i >= maxVersionLen {
				return false
			}
		case c == '\n':
			return digits > 0
		case c == '\r':
			return digits > 0 && (i+1 == len(v) || v[i+1] == '\n')
		default:
			return false
		}
	}
	return true
}

func indexLF(v []byte) int {
	for i, c := range v {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110 5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
