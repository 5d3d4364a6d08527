package l7

import (
	"bytes"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// maxHeadLen caps an HTTP/1 request head (request line, headers, blank line).
const maxHeadLen = 64 << 10

// headError refuses a request head before it is parsed.
type headError struct {
	status int
	reason string
}

func (e *headError) Error() string { return e.reason }

func badHead(reason string) *headError {
	return &headError{status: http.StatusBadRequest, reason: reason}
}

var errHeadTooLarge = &headError{status: http.StatusRequestHeaderFieldsTooLarge, reason: "request head is over 64 KiB"}

// headEnd finds the end of the request head at the start of b: through
// its first empty line, however lines end (checkHead judges the endings).
// It scans from from, the start of a line, and returns the head's length,
// or -1 and where to resume once b has grown.
func headEnd(b []byte, from int) (end, next int) {
	for start := from; ; {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1, start
		}
		if i == 0 || i == 1 && b[start] == '\r' {
			return start + i + 1, start
		}
		start += i + 1
	}
}

// headFacts collects what the consistency checks and the raw path (raw.go)
// need from a head; the byte slices point into it.
type headFacts struct {
	contentLengths, tes, hosts, upgrades int
	contentLength, te, host              []byte // the first of each
	method, target                       []byte // requests only
	proto                                string // "HTTP/1.1" or "HTTP/1.0"
	connClose, connKeepAlive             bool   // tokens of the Connection header
}

// checkHead checks a complete request head, as headEnd delimits it, for
// what lets two HTTP parsers disagree: bare LF or CR, obs-fold, control
// bytes in values, ambiguous framing. It is stricter than net/http's
// parser, which then parses what passed.
func checkHead(head []byte) *headError {
	_, err := inspectHead(head)
	return err
}

// inspectHead is checkHead, also returning what it learnt.
func inspectHead(head []byte) (f headFacts, _ *headError) {
	for n := 0; len(head) > 0; n++ {
		i := bytes.IndexByte(head, '\n')
		if i < 1 || head[i-1] != '\r' {
			return f, badHead("line ends in a bare LF")
		}
		line := head[:i-1]
		head = head[i+1:]
		if bytes.IndexByte(line, '\r') >= 0 {
			return f, badHead("bare CR in the request head")
		}
		if n == 0 {
			var err *headError
			if f.method, f.target, f.proto, err = checkRequestLine(line); err != nil {
				return f, err
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		if err := f.add(line); err != nil {
			return f, err
		}
	}
	return f, f.check()
}

func checkRequestLine(line []byte) (method, target []byte, proto string, _ *headError) {
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(rest, []byte(" "))
	bad := func(reason string) ([]byte, []byte, string, *headError) { return nil, nil, "", badHead(reason) }
	switch {
	case !ok1 || !ok2 || !isToken(method) || len(target) == 0:
		return bad("malformed request line")
	case string(version) == "HTTP/1.1":
		proto = "HTTP/1.1"
	case string(version) == "HTTP/1.0":
		proto = "HTTP/1.0"
	default:
		return bad("HTTP version is not 1.0 or 1.1")
	}
	if string(method) == http.MethodConnect {
		return nil, nil, "", &headError{status: http.StatusMethodNotAllowed, reason: reasonConnect}
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return bad("request target has a byte that is not visible ASCII")
		}
	}
	switch {
	case string(target) == "*":
		if string(method) != http.MethodOptions {
			return bad("request target * is only for OPTIONS")
		}
	case target[0] == '/':
		if !validEscapes(target) {
			return bad("malformed percent-encoding in the request target")
		}
	case bytes.HasPrefix(target, []byte("http://")), bytes.HasPrefix(target, []byte("https://")):
		if u, err := url.ParseRequestURI(string(target)); err != nil || !httpguts.ValidHostHeader(u.Host) {
			return bad("malformed request target")
		}
	default:
		return bad("request target is not a path or an http(s) URL")
	}
	return method, target, proto, nil
}

// validEscapes reports whether every % in an origin-form target's path
// starts an escape, which is all net/url checks in one.
func validEscapes(target []byte) bool {
	path, _, _ := bytes.Cut(target, []byte("?"))
	for i := 0; i < len(path); i++ {
		if path[i] == '%' && (i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2])) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (f *headFacts) add(line []byte) *headError {
	if line[0] == ' ' || line[0] == '\t' {
		return badHead("obs-fold (a header line starting with whitespace)")
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || !isToken(name) {
		return badHead("malformed header name")
	}
	for _, c := range value {
		switch {
		case c == 0:
			return badHead("NUL in a header value")
		case c < ' ' && c != '\t' || c == 0x7f:
			return badHead("control character in a header value")
		}
	}
	v := bytes.Trim(value, " \t")
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		if !isDigits(v) {
			return badHead("Content-Length is not a number")
		}
		if f.contentLengths > 0 && !bytes.Equal(v, f.contentLength) {
			return badHead("differing Content-Length values")
		}
		f.contentLengths++
		f.contentLength = v
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		f.tes++
		f.te = v
	case bytes.EqualFold(name, []byte("Host")):
		f.hosts++
		f.host = v
	case bytes.EqualFold(name, []byte("Trailer")):
		return checkTrailer(v)
	case bytes.EqualFold(name, []byte("Upgrade")):
		f.upgrades++
	case bytes.EqualFold(name, []byte("Connection")):
		for token := range bytes.SplitSeq(v, []byte(",")) {
			token = bytes.Trim(token, " \t")
			f.connClose = f.connClose || bytes.EqualFold(token, []byte("close"))
			f.connKeepAlive = f.connKeepAlive || bytes.EqualFold(token, []byte("keep-alive"))
		}
	}
	return nil
}

// isDigits accepts a Content-Length net/http accepts, up to an exabyte.
func isDigits(v []byte) bool {
	if len(v) == 0 || len(v) > 18 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkTrailer refuses trailers that would reframe the message.
func checkTrailer(v []byte) *headError {
	for name := range bytes.SplitSeq(v, []byte(",")) {
		name = bytes.Trim(name, " \t")
		for _, framing := range []string{"Content-Length", "Transfer-Encoding", "Trailer"} {
			if bytes.EqualFold(name, []byte(framing)) {
				return badHead("Trailer names a framing header")
			}
		}
	}
	return nil
}

// check judges the header fields together.
func (f *headFacts) check() *headError {
	proto := f.proto
	switch {
	case f.contentLengths > 0 && f.tes > 0:
		return badHead("both Content-Length and Transfer-Encoding")
	case f.tes > 1 || f.tes == 1 && !bytes.EqualFold(f.te, []byte("chunked")):
		return badHead("Transfer-Encoding other than a single chunked")
	case f.tes == 1 && proto == "HTTP/1.0":
		return badHead("Transfer-Encoding in an HTTP/1.0 request")
	case f.hosts > 1:
		return badHead("more than one Host header")
	case f.hosts == 1 && !httpguts.ValidHostHeader(string(f.host)):
		return badHead("malformed Host header")
	case f.hosts == 0 && proto == "HTTP/1.1":
		return badHead("HTTP/1.1 request without a Host header")
	}
	return nil
}

func isToken(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return true
}
