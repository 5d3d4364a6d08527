package l7_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/l7"
)

// Each case changes one thing in a valid request; the proxy must refuse
// it before the upstream sees anything, with the reason in the header.
func TestSmugglingDefences(t *testing.T) {
	const (
		line = "POST /submit HTTP/1.1\r\n"
		host = "Host: app\r\n"
		cl   = "Content-Length: 5\r\n"
		body = "\r\nhello"
	)
	valid := line + host + cl + body
	tests := []struct {
		name   string
		req    string
		status int
		reason string // a part of the reason; "" for accepted requests
	}{
		{name: "baseline", req: valid, status: 200},
		{name: "same Content-Length twice", req: line + host + cl + cl + body, status: 200},
		{name: "chunked", req: line + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: 200},
		{name: "bare LF after the request line", req: strings.Replace(valid, line, "POST /submit HTTP/1.1\n", 1), status: 400, reason: "bare LF"},
		{name: "bare LF after a header", req: strings.Replace(valid, host, "Host: app\n", 1), status: 400, reason: "bare LF"},
		{name: "bare LF ending the head", req: line + host + cl + "\nhello", status: 400, reason: "bare LF"},
		{name: "bare CR inside a header", req: strings.Replace(valid, host, "Host: a\rpp\r\n", 1), status: 400, reason: "bare CR"},
		{name: "obs-fold", req: line + host + "X-A: 1\r\n 2\r\n" + cl + body, status: 400, reason: "obs-fold"},
		{name: "NUL in a value", req: line + host + "X-A: a\x00b\r\n" + cl + body, status: 400, reason: "NUL"},
		{name: "control byte in a value", req: line + host + "X-A: a\x01b\r\n" + cl + body, status: 400, reason: "control character"},
		{name: "Content-Length and Transfer-Encoding", req: line + host + cl + "Transfer-Encoding: chunked\r\n" + body, status: 400, reason: "both Content-Length and Transfer-Encoding"},
		{name: "differing Content-Length", req: line + host + cl + "Content-Length: 6\r\n" + body, status: 400, reason: "differing Content-Length"},
		{name: "Content-Length with a sign", req: strings.Replace(valid, cl, "Content-Length: +5\r\n", 1), status: 400, reason: "not a number"},
		{name: "Content-Length list", req: strings.Replace(valid, cl, "Content-Length: 5, 5\r\n", 1), status: 400, reason: "not a number"},
		{name: "Transfer-Encoding gzip, chunked", req: line + host + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: 400, reason: "Transfer-Encoding"},
		{name: "Transfer-Encoding twice", req: line + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, reason: "Transfer-Encoding"},
		{name: "Transfer-Encoding in HTTP/1.0", req: "POST /submit HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, reason: "HTTP/1.0"},
		{name: "space before the colon", req: strings.Replace(valid, cl, "Content-Length : 5\r\n", 1), status: 400, reason: "header name"},
		{name: "no Host", req: strings.Replace(valid, host, "", 1), status: 400, reason: "Host"},
		{name: "two Hosts", req: strings.Replace(valid, host, host+"Host: other\r\n", 1), status: 400, reason: "Host"},
		{name: "Trailer naming Content-Length", req: line + host + "Trailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, reason: "Trailer"},
		{name: "HTTP/1.2", req: strings.Replace(valid, "HTTP/1.1", "HTTP/1.2", 1), status: 400, reason: "version"},
		{name: "non-ASCII target", req: strings.Replace(valid, "/submit", "/sub\xc3\xa9", 1), status: 400, reason: "visible ASCII"},
		{name: "head over 64 KiB", req: line + host + "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n" + cl + body, status: 431, reason: "64 KiB"},
		{name: "CONNECT", req: "CONNECT app:443 HTTP/1.1\r\n" + host + "\r\n", status: 405, reason: "CONNECT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }, false)
			f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
			c, br := dialRaw(t, f.Addr)
			go c.Write([]byte(tc.req)) // a refusal may come before the last bytes are taken
			resp, got := readResponse(t, br, "POST")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, got, tc.status)
			}
			rep := f.Log.wait(t, 1)[0]
			if tc.reason == "" {
				if rep.Denied || len(up.requests()) != 1 {
					t.Errorf("report %+v, upstream saw %q; want one forwarded request", rep, up.requests())
				}
				return
			}
			if h := resp.Header.Get(l7.DeniedHeader); !strings.Contains(h, tc.reason) {
				t.Errorf("%s: %q, want it to name %q", l7.DeniedHeader, h, tc.reason)
			}
			if !rep.Denied || rep.Status != tc.status || !strings.Contains(rep.Reason, tc.reason) {
				t.Errorf("report %+v, want denied with %d and %q", rep, tc.status, tc.reason)
			}
			if !resp.Close {
				t.Error("the refusal does not close the connection")
			}
			expectEOF(t, br)
			if n := len(up.requests()); n != 0 {
				t.Errorf("the upstream saw %d requests: %q", n, up.requests())
			}
		})
	}
}

// A chunk size line ending in a bare LF (Go CVE-2025-22871) must not let a
// second request hidden in the body reach the upstream.
func TestSmuggledRequestInChunkedBody(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }, false)
	f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
	c, br := dialRaw(t, f.Addr)
	c.Write([]byte("POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"2;\n" + "xx\r\n45\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: app\r\n\r\n0\r\n\r\n"))
	br.ReadByte() // the proxy ends the connection: it cannot tell where the body ends
	f.waitDone(t)
	for _, r := range up.requests() {
		if strings.Contains(r, "/admin") {
			t.Fatalf("the upstream saw the smuggled request: %q", up.requests())
		}
	}
}
