package gateway_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"
)

// The HTTP/1.1 fast path (h1.go), driven with raw bytes so that each test
// controls framing, pipelining and headers exactly.

// wireClient is one public TLS connection to the gateway.
type wireClient struct {
	t  testing.TB
	c  *tls.Conn
	br *bufio.Reader
}

func (e *env) wire(addr string) *wireClient {
	e.t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "shop.example.com", RootCAs: e.publicRoots(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	return &wireClient{t: e.t, c: c, br: bufio.NewReader(c)}
}

func (w *wireClient) send(raw string) {
	w.t.Helper()
	if _, err := io.WriteString(w.c, strings.ReplaceAll(raw, "\n", "\r\n")); err != nil {
		w.t.Fatal(err)
	}
}

// read reads one response whole.
func (w *wireClient) read(method string) (*http.Response, string) {
	w.t.Helper()
	resp, err := http.ReadResponse(w.br, &http.Request{Method: method})
	if err != nil {
		w.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// closed reports whether the gateway closed the connection.
func (w *wireClient) closed() bool {
	_, err := w.br.ReadByte()
	return err == io.EOF
}

// dump answers with the request as the backend saw it: method, path,
// headers (sorted) and body.
func dump(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var names []string
	for name := range r.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.Path, r.Proto)
	for _, name := range names {
		fmt.Fprintf(w, "%s: %s\n", name, strings.Join(r.Header[name], ","))
	}
	fmt.Fprintf(w, "body=%s", body)
}

// fastBackend is a mesh backend with the handlers the tests use.
func fastBackend(e *env, release chan struct{}) *meshServer {
	mux := map[string]http.HandlerFunc{}
	mux["/headers"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-App", "kept")
		io.WriteString(w, "ok")
	}
	mux["/stream"] = func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first ")
		w.(http.Flusher).Flush() // chunked: the gateway must pass it on now
		<-release
		io.WriteString(w, "second")
	}
	mux["/hints"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	}
	mux["/then-close"] = func(w http.ResponseWriter, r *http.Request) {
		// A complete keep-alive response, then the backend closes the
		// connection, as an idle timeout would: the gateway's pooled
		// connection is dead when the next request takes it.
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nclosed")
		brw.Flush()
		c.Close()
	}
	// Handlers answer by the path's last segment, under any prefix.
	return e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := mux[path.Join("/", path.Base(r.URL.Path))]; h != nil {
			h(w, r)
			return
		}
		dump(w, r)
	}))
}

// shopFile is a listener with one terminate route for shop.example.com:
// extra route keys (indented), then each backend (a YAML flow mapping).
func shopFile(e *env, extra string, backends ...string) string {
	cert, key := e.webCert(e.public, "shop", x509.ExtKeyUsageServerAuth, "shop.example.com")
	var b strings.Builder
	fmt.Fprintf(&b, "listeners:\n  - name: https\n    listen: 127.0.0.1:0\n    routes:\n      - hostname: shop.example.com\n"+
		"        mode: terminate\n        tls: {cert_file: %s, key_file: %s}\n%s        backends:\n", cert, key, extra)
	for _, be := range backends {
		b.WriteString("          - " + be + "\n")
	}
	return b.String()
}

// startFast runs a gateway with one terminate route to fastBackend.
func startFast(t *testing.T, release chan struct{}) (*env, *meshServer, *running) {
	e := newEnv(t)
	web := fastBackend(e, release)
	return e, web, e.start(terminateFile(e, web, web, ""))
}

func TestFastPathHeaders(t *testing.T) {
	e, web, g := startFast(t, nil)
	w := e.wire(g.addr("https"))
	w.send("GET /dump?q=1 HTTP/1.1\nHost: shop.example.com\nX-Custom: a, b\nKeep-Alive: timeout=9\nTE: trailers\n" +
		"Connection: keep-alive\nProxy-Authorization: Basic eA==\nX-Forwarded-For: 6.6.6.6\nX-Forwarded-Proto: http\nForwarded: for=6.6.6.6\n" +
		"X-Hopseal-Trace: t-1\n\n")
	resp, body := w.read("GET")
	want := "GET /dump HTTP/1.1\nX-Custom: a, b\nX-Forwarded-For: 127.0.0.1\nX-Forwarded-Host: shop.example.com\n" +
		"X-Forwarded-Proto: https\nX-Hopseal-Trace: t-1\nbody="
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("%d, the backend saw:\n%s\nwant:\n%s", resp.StatusCode, body, want)
	}
	w.send("GET /headers HTTP/1.1\nHost: shop.example.com\n\n")
	resp, body = w.read("GET")
	if body != "ok" || resp.Header.Get("X-App") != "kept" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("response %q with headers %v: want the app's, less Keep-Alive", body, resp.Header)
	}
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS %q: want only the route's", got)
	}
	line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["path"] == "/dump" })
	if line["status"] != 200.0 || line["destination"] != web.Addr || line["proto"] != "HTTP/1.1" || line["method"] != "GET" {
		t.Errorf("log line %v", line)
	}
	if len(web.Peers()) != 1 {
		t.Errorf("%d mesh connections for two requests, want one kept alive", len(web.Peers()))
	}
}

func TestFastPathBodiesAndPipelining(t *testing.T) {
	e, _, g := startFast(t, nil)
	w := e.wire(g.addr("https"))
	// Three requests in one write: each answered in order.
	w.send("POST /a HTTP/1.1\nHost: shop.example.com\nContent-Length: 5\n\nhello" +
		"POST /b HTTP/1.1\nHost: shop.example.com\nContent-Length: 0\n\n" +
		"GET /c HTTP/1.1\nHost: shop.example.com\nConnection: close\n\n")
	for _, want := range []string{"POST /a HTTP/1.1", "POST /b HTTP/1.1", "GET /c HTTP/1.1"} {
		resp, body := w.read("POST")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, want) {
			t.Fatalf("%d %q, want %q", resp.StatusCode, body, want)
		}
		if want == "POST /a HTTP/1.1" && !strings.HasSuffix(body, "body=hello") {
			t.Errorf("body lost: %q", body)
		}
		if want == "GET /c HTTP/1.1" && !resp.Close {
			t.Error("no Connection: close on the answer to a request that asked for it")
		}
	}
	if !w.closed() {
		t.Error("the connection stayed open after Connection: close")
	}
}

// A chunked response takes net/http's framing but is passed on as the
// backend sends it; an interim response goes out before the final one.
func TestFastPathStreamsAndInterim(t *testing.T) {
	release := make(chan struct{})
	e, _, g := startFast(t, release)
	w := e.wire(g.addr("https"))
	w.send("GET /stream HTTP/1.1\nHost: shop.example.com\n\n")
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("first "))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first " {
		t.Fatalf("first part %q, %v: held back until the stream ends?", first, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" || resp.TransferEncoding == nil {
		t.Fatalf("rest %q, transfer encoding %v", rest, resp.TransferEncoding)
	}
	w.send("GET /hints HTTP/1.1\nHost: shop.example.com\n\n")
	resp, _ = w.read("GET")
	if resp.StatusCode != http.StatusEarlyHints || resp.Header.Get("Link") == "" {
		t.Fatalf("first response %d %v, want the interim 103 with its Link", resp.StatusCode, resp.Header)
	}
	resp, body := w.read("GET")
	if resp.StatusCode != 200 || body != "final" {
		t.Errorf("final response %d %q", resp.StatusCode, body)
	}
}

// What the fast path leaves to net/http is still served, on the same
// connection, and so is what follows it.
func TestFastPathHandsOff(t *testing.T) {
	tests := []struct {
		name, req, want string
	}{
		{"chunked request body", "POST /x HTTP/1.1\nHost: shop.example.com\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n", "body=abc"},
		{"Expect: 100-continue", "POST /x HTTP/1.1\nHost: shop.example.com\nExpect: 100-continue\nContent-Length: 2\n\nhi", "body=hi"},
		{"escaped path", "GET /a%20b HTTP/1.1\nHost: shop.example.com\n\n", "GET /a b HTTP/1.1"},
		{"Connection naming a header", "GET /x HTTP/1.1\nHost: shop.example.com\nConnection: X-Drop\nX-Drop: 1\n\n", "X-Forwarded-For: 127.0.0.1\n"},
	}
	e, _, g := startFast(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.wire(g.addr("https"))
			w.send(tt.req)
			resp, body := w.read("POST")
			for resp.StatusCode == http.StatusContinue {
				resp, body = w.read("POST")
			}
			if resp.StatusCode != 200 || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %q, want %q", resp.StatusCode, body, tt.want)
			}
			if !strings.Contains(body, "X-Forwarded-Proto: https") || strings.Contains(body, "X-Drop") {
				t.Errorf("the backend saw %q: want X-Forwarded-Proto https, no header Connection names", body)
			}
			w.send("GET /after HTTP/1.1\nHost: shop.example.com\n\n")
			if resp, body := w.read("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /after") {
				t.Errorf("next request: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestFastPathBackendFailures(t *testing.T) {
	e := newEnv(t)
	web := fastBackend(e, nil)
	g := e.start(shopFile(e, "        hsts: {max_age: 1d}\n",
		fmt.Sprintf("{path_prefix: /, address: %s, server_id: spiffe://demo.local/ns/shop/sa/web}", freeAddr(t)),
		fmt.Sprintf("{path_prefix: /live, address: %s, server_id: spiffe://demo.local/ns/shop/sa/web}", web.Addr)))

	// A pooled connection the backend closed is replaced, unseen.
	w := e.wire(g.addr("https"))
	w.send("GET /live/then-close HTTP/1.1\nHost: shop.example.com\n\n")
	if resp, body := w.read("GET"); resp.StatusCode != 200 || body != "closed" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	w.send("GET /live/next HTTP/1.1\nHost: shop.example.com\n\n")
	if resp, body := w.read("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /live/next") {
		t.Fatalf("after the backend closed its idle connection: %d %q", resp.StatusCode, body)
	}
	if n := len(web.Peers()); n != 2 {
		t.Errorf("%d mesh connections, want 2 (the closed one replaced)", n)
	}

	// A backend that does not answer: 502, and the client's connection
	// goes on.
	w.send("GET /down HTTP/1.1\nHost: shop.example.com\n\n")
	resp, body := w.read("GET")
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, "connect") || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("%d %q %v, want 502 with HSTS and no internal detail", resp.StatusCode, body, resp.Header)
	}
	line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["path"] == "/down" })
	if line["status"] != 502.0 || !strings.Contains(fmt.Sprint(line["reason"]), "backend") {
		t.Errorf("502 log line %v", line)
	}
	w.send("GET /live/again HTTP/1.1\nHost: shop.example.com\n\n")
	if resp, _ := w.read("GET"); resp.StatusCode != 200 {
		t.Errorf("after a 502: %d", resp.StatusCode)
	}
}

// Heads that fail the strict checks are refused, and the connection ends.
func TestFastPathRefusesBadHeads(t *testing.T) {
	tests := []struct{ name, head string }{
		{"bare LF", "GET / HTTP/1.1\r\nHost: shop.example.com\nX: y\r\n\r\n"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	}
	e, web, g := startFast(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.wire(g.addr("https"))
			if _, err := io.WriteString(w.c, tt.head); err != nil {
				t.Fatal(err)
			}
			resp, body := w.read("GET")
			if resp.StatusCode != http.StatusBadRequest || !resp.Close {
				t.Fatalf("%d %q (close %v), want 400 and close", resp.StatusCode, body, resp.Close)
			}
			if !w.closed() {
				t.Error("connection left open")
			}
		})
	}
	if n := len(web.Peers()); n != 0 {
		t.Errorf("refused requests reached the backend (%d connections)", n)
	}
}

// BenchmarkTerminateHTTP1 sends GETs for 1 KiB over one keep-alive
// connection through a terminate route to an in-process mesh backend: on
// the fast path, and on net/http's (the connection handed over by its first
// request). Allocations count the whole process: client, gateway, backend.
func BenchmarkTerminateHTTP1(b *testing.B) {
	e := newEnv(b)
	page := strings.Repeat("x", 1024)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, page)
	}))
	g := e.start(terminateFile(e, web, web, ""))
	for _, bb := range []struct{ name, first string }{
		{"fast", ""},
		{"net-http", "Connection: X-Hand-Over\n"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			w := e.wire(g.addr("https"))
			w.c.SetDeadline(time.Time{})
			w.send("GET /first HTTP/1.1\nHost: shop.example.com\n" + bb.first + "\n")
			w.read("GET")
			b.ReportAllocs()
			for b.Loop() {
				w.send("GET /page HTTP/1.1\nHost: shop.example.com\n\n")
				if resp, body := w.read("GET"); resp.StatusCode != 200 || len(body) != len(page) {
					b.Fatalf("%d, %d bytes", resp.StatusCode, len(body))
				}
			}
		})
	}
}

// Backends sharing a path prefix split its requests by weight, exactly per
// run of total requests, on both the fast path and net/http's.
func TestWeightedBackends(t *testing.T) {
	e := newEnv(t)
	stable := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("stable"))
	canary := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("canary"))
	g := e.start(shopFile(e, "",
		fmt.Sprintf("{path_prefix: /, weight: 3, address: %s, server_id: spiffe://demo.local/ns/shop/sa/web}", stable.Addr),
		fmt.Sprintf("{path_prefix: /, weight: 1, address: %s, server_id: spiffe://demo.local/ns/shop/sa/web}", canary.Addr)))
	for _, h2 := range []bool{false, true} {
		c := e.client(g.addr("https"), h2, nil)
		got := map[string]int{}
		for range 8 {
			_, body := get(t, c, "https://shop.example.com/x")
			name, _, _ := strings.Cut(body, " ")
			got[name]++
		}
		if got["stable"] != 6 || got["canary"] != 2 {
			t.Errorf("h2 %v: %v, want 6 stable and 2 canary", h2, got)
		}
	}
}
