package gateway

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"testing"

	"github.com/hopseal/hopseal/internal/l7"
)

// FuzzFastPathRequestHead: whatever head the fast path takes, what it sends
// the backend parses as the same request, with the gateway's forwarding
// headers only and no hop-by-hop header.
func FuzzFastPathRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a:8443\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc",
		"GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=x\r\nKeep-Alive: 5\r\nTE: trailers\r\nX: y\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-proto: http\r\nproxy-connection: x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(raw), maxHeaderBytes)
		head, err := l7.PeekRequest(br, maxHeaderBytes)
		if err != nil || !head.Raw {
			return
		}
		h := &h1conn{br: br, fw: forwarding{xff: "192.0.2.1", proto: "https"}}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		h.writeRequestHead(w, head)
		w.Flush()
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(out.Bytes())))
		if err != nil {
			t.Fatalf("the forwarded head does not parse: %v\n%q", err, out.Bytes())
		}
		if req.Method != head.Method || req.Host != string(head.Host) || req.RequestURI != string(head.Target) {
			t.Fatalf("forwarded %s %s (Host %q), read %s %s (Host %q)", req.Method, req.RequestURI, req.Host, head.Method, head.Target, head.Host)
		}
		if head.BodyLen > 0 && req.ContentLength != head.BodyLen {
			t.Fatalf("Content-Length %d, read %d", req.ContentLength, head.BodyLen)
		}
		want := map[string][]string{"X-Forwarded-For": {"192.0.2.1"}, "X-Forwarded-Host": {string(head.Host)}, "X-Forwarded-Proto": {"https"}, "Forwarded": nil}
		for name, values := range want {
			if !slices.Equal(req.Header[name], values) {
				t.Fatalf("%s: %q, want %q\n%q", name, req.Header[name], values, out.Bytes())
			}
		}
		for _, name := range hopHeaders {
			if v, ok := req.Header[http.CanonicalHeaderKey(name)]; ok {
				t.Fatalf("hop-by-hop %s: %q forwarded", name, v)
			}
		}
	})
}
