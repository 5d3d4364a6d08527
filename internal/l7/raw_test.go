package l7_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/l7"
)

// A request the raw path takes reaches the upstream byte for byte (header
// names keep their case); one it leaves to net/http is written anew
// (canonical names). Either way the upstream sees one whole request.
func TestHTTP1RawOrRewritten(t *testing.T) {
	tests := []struct {
		name, req string
		raw       bool
	}{
		{"GET", "GET /a?b=c HTTP/1.1\r\nHost: x\r\nx-lower: 1\r\n\r\n", true},
		{"POST with a length", "POST /a HTTP/1.1\r\nHost: x\r\nx-lower: 1\r\nContent-Length: 3\r\n\r\nabc", true},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nx-lower: 1\r\n\r\n", true},
		{"chunked", "POST /a HTTP/1.1\r\nHost: x\r\nx-lower: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"absolute form", "GET http://x/a HTTP/1.1\r\nHost: x\r\nx-lower: 1\r\n\r\n", false},
		{"a byte net/url escapes", "GET /a|b HTTP/1.1\r\nHost: x\r\nx-lower: 1\r\n\r\n", false},
		{"upgrade", "GET / HTTP/1.1\r\nHost: x\r\nx-lower: 1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			heads := make(chan string, 1)
			addr := rawUpstream(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					head.WriteString(line)
					if err != nil || line == "\r\n" {
						break
					}
				}
				heads <- head.String()
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			})
			f := startFront(t, addr, l7.ServeHTTP1, allowAll)
			c, br := dialRaw(t, f.Addr)
			c.Write([]byte(tc.req))
			if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			head := <-heads
			wantHead, _, _ := strings.Cut(tc.req, "\r\n\r\n")
			if got := head == wantHead+"\r\n\r\n"; got != tc.raw {
				t.Errorf("upstream got %q; forwarded as read: %v, want %v", head, got, tc.raw)
			}
			if strings.Contains(head, "x-lower") != tc.raw {
				t.Errorf("upstream got %q; want the header name's case kept only on the raw path", head)
			}
		})
	}
}

// Responses of every framing reach the client whole, and the connection
// goes on (or ends) as the response says, whether the raw path or net/http
// carried it.
func TestHTTP1ResponseFraming(t *testing.T) {
	big := strings.Repeat("a", 20<<10)
	tests := []struct {
		name, method, resp string
		wantBody           string
		closes             bool // the connection ends after this response
	}{
		{name: "length", method: "GET", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", wantBody: "hello"},
		{name: "HEAD with a length", method: "HEAD", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
		{name: "204", method: "GET", resp: "HTTP/1.1 204 No Content\r\n\r\n"},
		{name: "304 with a length", method: "GET", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"},
		{name: "early hints first", method: "GET", resp: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", wantBody: "hi"},
		{name: "chunked", method: "GET", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", wantBody: "hi"},
		{name: "same length twice", method: "GET", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", wantBody: "hi"},
		{name: "bare LF", method: "GET", resp: "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", wantBody: "hi"},
		{name: "head over the raw buffer", method: "GET", resp: "HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\nContent-Length: 2\r\n\r\nhi", wantBody: "hi"},
		{name: "no reason phrase", method: "GET", resp: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi", wantBody: "hi"},
		{name: "Connection: close", method: "GET", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", wantBody: "hi", closes: true},
		{name: "HTTP/1.0", method: "GET", resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", wantBody: "hi", closes: true},
		{name: "HTTP/1.0 keep-alive", method: "GET", resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi", wantBody: "hi"},
		{name: "ends at close", method: "GET", resp: "HTTP/1.1 200 OK\r\n\r\nuntil the end", wantBody: "until the end", closes: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawUpstream(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" {
							break
						}
					}
					io.WriteString(c, tc.resp)
					if tc.closes {
						return
					}
				}
			})
			f := startFront(t, addr, l7.ServeHTTP1, allowAll)
			c, br := dialRaw(t, f.Addr)
			req := tc.method + " / HTTP/1.1\r\nHost: x\r\n\r\n"
			for range 2 {
				c.Write([]byte(req))
				resp, body := readResponse(t, br, tc.method)
				for resp.StatusCode < 200 { // interim responses come through as they are
					resp, body = readResponse(t, br, tc.method)
				}
				if resp.StatusCode < 200 || body != tc.wantBody {
					t.Fatalf("status %d, body %q; want a final response with %q", resp.StatusCode, body, tc.wantBody)
				}
				if tc.closes {
					expectEOF(t, br)
					return
				}
			}
			c.Close()
			reports := f.Log.wait(t, 2)
			if reports[1].Status < 200 || reports[1].RespBytes != int64(len(tc.wantBody)) {
				t.Errorf("report %+v, want a status and %d body bytes", reports[1], len(tc.wantBody))
			}
		})
	}
}
