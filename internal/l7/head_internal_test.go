package l7

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 27},
		{"GET / HTTP/1.1\nHost: a\n\nbody", 24}, // found, for checkHead to refuse
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"\r\n", 2},
		{"", -1},
	}
	for _, tc := range tests {
		if got, _ := headEnd([]byte(tc.in), 0); got != tc.want {
			t.Errorf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// Scanning a head byte by byte, resuming where it stopped, finds the same
// end as scanning it whole, without rescanning from the start.
func TestHeadEndIncremental(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("x", 1000) + "\r\n\r\nrest"
	from := 0
	for n := 1; n <= len(head); n++ {
		end, next := headEnd([]byte(head[:n]), from)
		if next < from {
			t.Fatalf("at %d bytes: resume point went back from %d to %d", n, from, next)
		}
		if end >= 0 {
			if want, _ := headEnd([]byte(head), 0); end != want || n != want {
				t.Fatalf("found end %d at %d bytes, want %d", end, n, want)
			}
			return
		}
		from = next
	}
	t.Fatal("no end found")
}

// FuzzHTTP1Head: the raw-head checker never panics, and any head it
// accepts is one net/http parses.
func FuzzHTTP1Head(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n",
		"GET http://a:8080/p HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS * HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /a?%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a/%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 018446744073709551615\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX:\xff\r\n\r\n",
		"GET /#f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%41!'()*[]$&+,;=:@~?q=|# HTTP/1.1\r\nhost: a:1\r\nConnection: x, Close\r\n\r\n",
		"POST /p HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nContent-length: 7\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTrailer: X, Content-length\r\nTransfer-Encoding: Chunked\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, _ := headEnd(b, 0)
		if end < 0 {
			return
		}
		head := b[:end]
		facts, herr := inspectHead(head)
		if err := herr; err != nil {
			if err.status != http.StatusBadRequest && err.status != http.StatusMethodNotAllowed || err.reason == "" {
				t.Fatalf("refusal %+v", err)
			}
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("checkHead accepted %q, which net/http refuses: %v", head, err)
		}
		if p := requestPath(req); p == "" || p[0] != '/' && p != "*" {
			t.Fatalf("accepted %q with path %q", head, p)
		}
		// What the raw path forwards as read is what net/http would send.
		var ex exchange
		if !rawRequest(&ex, &facts, end) {
			return
		}
		want := Request{Proto: req.Proto, Method: req.Method, Path: requestPath(req), Authority: req.Host}
		if ex.report != want || ex.close != req.Close || ex.bodyLen != max(req.ContentLength, 0) || ex.method != req.Method {
			t.Fatalf("raw path read %q as %+v (close %v, body %d), net/http as %+v (close %v, body %d)",
				head, ex.report, ex.close, ex.bodyLen, want, req.Close, req.ContentLength)
		}
	})
}
