package l7

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// The raw path forwards the common HTTP/1 message as it was read: a head
// that passed inspectHead's strict checks, framed by a Content-Length (or
// by nothing), goes on byte for byte, and its body is copied without being
// decoded. Parsing a request into an http.Request and writing it out again
// cost most of what L7 added per request, and bought nothing for such a
// message: the checks already guarantee the proxy, the client and the
// upstream read the same framing. Whatever else (chunked bodies, upgrades,
// absolute-form targets, bodies that end at close) takes net/http's way.

// rawRequest fills ex from the facts of a checked head if the raw path can
// forward it, and reports whether it can.
func rawRequest(ex *exchange, f *headFacts, headLen int) bool {
	path, n, ok := f.forwardable()
	if !ok {
		return false
	}
	ex.raw, ex.headLen, ex.bodyLen = true, headLen, n
	ex.method = methodString(f.method)
	ex.http10 = f.proto == "HTTP/1.0"
	ex.close = f.closes()
	ex.report = Request{Proto: f.proto, Method: ex.method, Path: string(path), Authority: string(f.host)}
	return true
}

// forwardable reports whether a checked request head can go on as read:
// framed by a Content-Length or by nothing, no upgrade, one Host, and an
// origin-form path that net/http would send unchanged. It returns the path
// and the body's length.
func (f *headFacts) forwardable() (path []byte, bodyLen int64, ok bool) {
	if f.tes > 0 || f.upgrades > 0 || f.hosts != 1 || len(f.target) == 0 || f.target[0] != '/' {
		return nil, 0, false
	}
	if f.contentLengths > 0 {
		bodyLen, _ = strconv.ParseInt(string(f.contentLength), 10, 64) // isDigits checked it
	}
	path, _, _ = bytes.Cut(f.target, []byte("?"))
	if bytes.ContainsAny(path, reescaped) {
		return nil, 0, false
	}
	return path, bodyLen, true
}

// closes reports whether the message ends its connection.
func (f *headFacts) closes() bool {
	return f.connClose || f.proto == "HTTP/1.0" && !f.connKeepAlive
}

// reescaped are the visible bytes net/url escapes in a path it writes out:
// a path with none of them goes upstream exactly as net/http would send it,
// so it is the path authorized, whichever way it goes.
const reescaped = "\"#<>\\^`{|}"

// methodString spares an allocation for the common methods.
func methodString(m []byte) string {
	for _, known := range [...]string{"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		if string(m) == known {
			return known
		}
	}
	return string(m)
}

// writeRawRequest sends ex's head as read, then its body, upstream.
func (c *h1conn) writeRawRequest(ex *exchange) (readErr, err error) {
	br := c.cin.reader()
	head, _ := br.Peek(ex.headLen)
	if _, err := c.toUp.Write(head); err != nil {
		return nil, err
	}
	br.Discard(ex.headLen)
	return CopyBody(br, &c.toUp, ex.bodyLen, &ex.reqBytes)
}

// FlushWriter is a buffered writer, such as a bufio.Writer.
type FlushWriter interface {
	io.Writer
	Flush() error
}

// CopyBody copies n bytes from br to w and counts them; readErr means br's
// side failed. Before a read that may block, it flushes w, so what was
// written (a head awaiting 100 Continue, say) is not held back.
func CopyBody(br *bufio.Reader, w FlushWriter, n int64, count interface{ Add(int64) int64 }) (readErr, err error) {
	for n > 0 {
		if br.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return nil, err
			}
			if _, err := br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err, err
			}
		}
		b, _ := br.Peek(int(min(n, int64(br.Buffered()))))
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		br.Discard(len(b))
		n -= int64(len(b))
		count.Add(int64(len(b)))
	}
	return nil, nil
}

// errNotRaw sends a response the raw path cannot frame to net/http.
var errNotRaw = errors.New("l7: response needs net/http")

// respondRaw passes on the response to a request sent raw, 1xx responses
// first. It returns errNotRaw, having consumed nothing of the final
// response, when that one needs net/http. sent says the final response's
// head went to the client: an error before that is the upstream's failure
// to answer.
func (c *h1conn) respondRaw(ex *exchange) (resp rawResponse, sent bool, err error) {
	br := c.uin.reader()
	for {
		if resp, err = inspectResponse(br, ex.method); err != nil {
			return resp, false, err
		}
		final := resp.status >= 200
		if _, err := c.toClient.Write(resp.head); err != nil {
			return resp, final, err
		}
		br.Discard(len(resp.head))
		if final {
			_, err := CopyBody(br, &c.toClient, resp.bodyLen, &ex.respBytes)
			if ferr := c.toClient.Flush(); err == nil {
				err = ferr
			}
			return resp, true, err
		}
		if err := c.toClient.Flush(); err != nil { // an interim response goes out at once
			return resp, false, err
		}
	}
}

// rawResponse is a response head the raw path can forward.
type rawResponse struct {
	head    []byte // valid until br is read again
	status  int
	proto   string
	bodyLen int64
	close   bool
}

// inspectResponse waits for a whole response head in br and judges it
// (method is the request's).
func inspectResponse(br *bufio.Reader, method string) (rawResponse, error) {
	n, err := peekHead(br, br.Size())
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || errors.Is(err, errHeadTooLarge):
		return rawResponse{}, errNotRaw // too big for the raw path; net/http has a higher limit
	case err != nil:
		return rawResponse{}, err
	}
	head, _ := br.Peek(n)
	status, f, ok := checkResponseHead(head)
	switch {
	case !ok || status == http.StatusSwitchingProtocols || f.tes > 0:
		return rawResponse{}, errNotRaw
	case !hasBody(status, method):
		// No body, whatever the headers say.
	case f.contentLengths == 0:
		return rawResponse{}, errNotRaw // the body ends at close
	}
	r := rawResponse{head: head, status: status, proto: f.proto, close: f.closes()}
	if hasBody(status, method) {
		r.bodyLen, _ = strconv.ParseInt(string(f.contentLength), 10, 64)
	}
	return r, nil
}

// hasBody reports whether a response may carry a body, whatever its
// headers say.
func hasBody(status int, method string) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified && method != http.MethodHead
}

// checkResponseHead applies the request head's line rules to a response
// head; ok false leaves it to net/http.
func checkResponseHead(head []byte) (status int, f headFacts, ok bool) {
	for n := 0; len(head) > 0; n++ {
		i := bytes.IndexByte(head, '\n')
		if i < 1 || head[i-1] != '\r' {
			return 0, f, false
		}
		line := head[:i-1]
		head = head[i+1:]
		if bytes.IndexByte(line, '\r') >= 0 {
			return 0, f, false
		}
		switch {
		case n == 0:
			if status, f.proto = statusLine(line); status == 0 {
				return 0, f, false
			}
		case len(line) == 0:
			return status, f, f.tes == 0 && f.contentLengths <= 1
		default:
			if f.add(line) != nil {
				return 0, f, false
			}
		}
	}
	return 0, f, false
}

// statusLine parses "HTTP/1.x NNN reason"; status 0 means it does not.
func statusLine(line []byte) (status int, proto string) {
	version, rest, _ := bytes.Cut(line, []byte(" "))
	code, _, _ := bytes.Cut(rest, []byte(" "))
	switch string(version) {
	case "HTTP/1.1":
		proto = "HTTP/1.1"
	case "HTTP/1.0":
		proto = "HTTP/1.0"
	default:
		return 0, ""
	}
	if len(code) != 3 || !isDigits(code) || code[0] == '0' {
		return 0, ""
	}
	status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return status, proto
}
