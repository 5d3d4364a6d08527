package l7

import (
	"bufio"
	"errors"
)

// The raw path's checks, for forwarders that hold their own connections
// (the gateway): a request head checked as strictly as ServeHTTP1 checks
// it, and a response head judged forwardable as read.

// HeadError refuses a request head: Status and Reason are for the client.
type HeadError struct {
	Status int
	Reason string
}

func (e *HeadError) Error() string { return e.Reason }

// RequestHead is a whole request head that passed the strict checks. Its
// byte slices point into the reader's buffer: valid until it is read again.
type RequestHead struct {
	Len    int // bytes of the head, blank line included
	Method string
	Target []byte
	Proto  string // "HTTP/1.1" or "HTTP/1.0"
	Host   []byte
	Close  bool // the request ends the connection
	// Raw says the message can go on as read: Content-Length framing (or
	// none), no upgrade, one Host, an origin-form target whose Path
	// net/http would send unchanged. Path and BodyLen are set only then.
	Raw     bool
	Path    []byte
	BodyLen int64
}

// PeekRequest waits until br holds a whole request head of at most max
// bytes (br must be able to buffer it), then checks it. A *HeadError
// refuses the request; other errors are the connection's.
func PeekRequest(br *bufio.Reader, max int) (RequestHead, error) {
	n, err := peekHead(br, max)
	var herr *headError
	if errors.As(err, &herr) {
		return RequestHead{}, &HeadError{Status: herr.status, Reason: herr.reason}
	}
	if err != nil {
		return RequestHead{}, err
	}
	head, _ := br.Peek(n)
	f, herr := inspectHead(head)
	if herr != nil {
		return RequestHead{}, &HeadError{Status: herr.status, Reason: herr.reason}
	}
	h := RequestHead{Len: n, Method: methodString(f.method), Target: f.target, Proto: f.proto, Host: f.host, Close: f.closes()}
	h.Path, h.BodyLen, h.Raw = f.forwardable()
	return h, nil
}

// ErrNeedsParse says a response head cannot go on as read (chunked, ends
// at close, a switch of protocols, a head over the reader's size): nothing
// of it was consumed, so http.ReadResponse can take it from there.
var ErrNeedsParse = errNotRaw

// ResponseHead is a whole response head that can go on as read. Bytes
// points into the reader's buffer: valid until it is read again.
type ResponseHead struct {
	Bytes   []byte
	Status  int
	Proto   string // "HTTP/1.1" or "HTTP/1.0"
	BodyLen int64
	Close   bool // the response ends the connection
}

// PeekResponse waits until br holds a whole response head to a request of
// method and judges it: ErrNeedsParse, or a head to forward.
func PeekResponse(br *bufio.Reader, method string) (ResponseHead, error) {
	r, err := inspectResponse(br, method)
	return ResponseHead{Bytes: r.head, Status: r.status, Proto: r.proto, BodyLen: r.bodyLen, Close: r.close}, err
}
