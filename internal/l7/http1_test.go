package l7_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/l7"
)

// oneConnClient is a net/http client that keeps a single connection.
func oneConnClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true, ExpectContinueTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Keep-alive: several requests on one connection, each authorized and
// reported with method, path, status and duration.
func TestHTTP1KeepAliveReports(t *testing.T) {
	noLeaks(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/slow":
			time.Sleep(20 * time.Millisecond) // the app's work, measured in Duration
			fallthrough
		default:
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.RequestURI(), len(body))
		}
	}, false)
	var asked []string
	f := startFront(t, up.Addr, l7.ServeHTTP1, func(m, p string) (bool, string, string) {
		asked = append(asked, m+" "+p)
		return true, "rule-1", ""
	})
	client := oneConnClient(t)
	calls := []struct{ method, target, body, want string }{
		{"GET", "/items?id=1", "", "GET /items?id=1 0"},
		{"POST", "/items", "hello", "POST /items 5"},
		{"GET", "/slow", "", "GET /slow 0"},
		{"DELETE", "/missing", "", "404 page not found\n"},
		{"HEAD", "/items", "", ""},
	}
	for _, c := range calls {
		req, _ := http.NewRequest(c.method, "http://"+f.Addr+c.target, strings.NewReader(c.body))
		if c.body == "" {
			req.Body = nil
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.target, got, c.want)
		}
	}
	reps := f.Log.wait(t, len(calls))
	wantAsked := []string{"GET /items", "POST /items", "GET /slow", "DELETE /missing", "HEAD /items"}
	for i, r := range reps {
		wantStatus := 200
		if i == 3 {
			wantStatus = 404
		}
		if r.Method+" "+r.Path != wantAsked[i] || r.Status != wantStatus || r.Proto != "HTTP/1.1" || r.Rule != "rule-1" || r.Denied || r.Authority != f.Addr {
			t.Errorf("report %d: %+v, want %s with %d", i, r, wantAsked[i], wantStatus)
		}
		if r.Duration <= 0 || i == 2 && r.Duration < 20*time.Millisecond {
			t.Errorf("report %d: duration %s", i, r.Duration)
		}
	}
	if reps[1].ReqBytes != 5 || reps[0].RespBytes != int64(len(calls[0].want)) {
		t.Errorf("body bytes: request %d, response %d", reps[1].ReqBytes, reps[0].RespBytes)
	}
	if fmt.Sprint(asked) != fmt.Sprint(wantAsked) {
		t.Errorf("Authorize saw %q, want %q", asked, wantAsked)
	}
	client.Transport.(*http.Transport).CloseIdleConnections()
	if s := f.waitDone(t); s.err != nil {
		t.Errorf("ServeHTTP1: %v", s.err)
	}
	if len(f.Done) != 0 {
		t.Error("more than one connection was used")
	}
}

func TestHTTP1Denied(t *testing.T) {
	noLeaks(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {}, false)
	f := startFront(t, up.Addr, l7.ServeHTTP1, denyPrefix("/admin"))
	client := oneConnClient(t)
	resp, err := client.Post("http://"+f.Addr+"/admin/users", "text/plain", strings.NewReader("drop"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get(l7.DeniedHeader) != "path /admin is not allowed for this peer" {
		t.Errorf("status %d, %s %q", resp.StatusCode, l7.DeniedHeader, resp.Header.Get(l7.DeniedHeader))
	}
	if !strings.Contains(string(body), "path /admin is not allowed") || !strings.Contains(string(body), "no-admin") {
		t.Errorf("body %q names neither the reason nor the rule", body)
	}
	r := f.Log.wait(t, 1)[0]
	if !r.Denied || r.Status != 403 || r.Rule != "no-admin" || r.Path != "/admin/users" || r.Method != "POST" {
		t.Errorf("report %+v", r)
	}
	if len(up.requests()) != 0 {
		t.Errorf("the upstream saw %q", up.requests())
	}
	f.waitDone(t)
	// The next connection works as before.
	resp, err = client.Get("http://" + f.Addr + "/public")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a denial: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Pipelined requests are answered in order, a denial after the responses
// before it.
func TestHTTP1PipelinedThenDenied(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }, false)
	f := startFront(t, up.Addr, l7.ServeHTTP1, denyPrefix("/admin"))
	c, br := dialRaw(t, f.Addr)
	c.Write([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n"))
	for _, want := range []string{"/a", "/b"} {
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	}
	if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 403 {
		t.Fatalf("third response %d, want 403", resp.StatusCode)
	}
	expectEOF(t, br)
	if got := up.requests(); len(got) != 2 {
		t.Errorf("the upstream saw %q, want /a and /b only", got)
	}
}

// 50 MB each way streams through; the proxy holds no whole message.
func TestHTTP1LargeBodies(t *testing.T) {
	const size = 50 << 20
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			return
		}
		io.Copy(w, io.LimitReader(&pattern{}, size))
	}, false)
	f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
	client := oneConnClient(t)
	h := sha256.New()
	resp, err := client.Post("http://"+f.Addr+"/up", "application/octet-stream", io.TeeReader(io.LimitReader(&pattern{}, size), h))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %x", size, h.Sum(nil)); string(got) != want {
		t.Errorf("upload: upstream got %q, want %q", got, want)
	}
	resp, err = client.Get("http://" + f.Addr + "/down")
	if err != nil {
		t.Fatal(err)
	}
	dh := sha256.New()
	n, err := io.Copy(dh, resp.Body)
	resp.Body.Close()
	wh := sha256.New()
	io.Copy(wh, io.LimitReader(&pattern{}, size))
	if err != nil || n != size || !bytes.Equal(dh.Sum(nil), wh.Sum(nil)) {
		t.Errorf("download: %d bytes, %v, hash match %v", n, err, bytes.Equal(dh.Sum(nil), wh.Sum(nil)))
	}
	reps := f.Log.wait(t, 2)
	if reps[0].ReqBytes != size || reps[1].RespBytes != size {
		t.Errorf("reported body bytes %d up, %d down", reps[0].ReqBytes, reps[1].RespBytes)
	}
}

// pattern is an endless byte stream that does not repeat every few bytes.
type pattern struct{ pos int }

func (r *pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.pos*7 + r.pos>>8)
		r.pos++
	}
	return len(p), nil
}

// Expect: 100-continue: the client sends its body only after the upstream
// asked for it through the proxy (the client would otherwise wait a minute).
func TestHTTP1ExpectContinue(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // reading makes net/http send 100 Continue
		w.Write(b)
	}, false)
	f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
	req, _ := http.NewRequest("PUT", "http://"+f.Addr+"/doc", strings.NewReader("continued body"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	resp, err := oneConnClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "continued body" || time.Since(start) > 10*time.Second {
		t.Errorf("got %q after %s", got, time.Since(start))
	}
}

func TestHTTP1ConnectionClose(t *testing.T) {
	t.Run("from the client", func(t *testing.T) {
		up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, false)
		f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
		c, br := dialRaw(t, f.Addr)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		expectEOF(t, br)
		if s := f.waitDone(t); s.err != nil {
			t.Errorf("ServeHTTP1: %v", s.err)
		}
	})
	t.Run("from the upstream", func(t *testing.T) {
		up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}, false)
		f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
		c, br := dialRaw(t, f.Addr)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if resp, body := readResponse(t, br, "GET"); !resp.Close || body != "bye" {
			t.Fatalf("close %v, %q", resp.Close, body)
		}
		expectEOF(t, br)
		if s := f.waitDone(t); s.err != nil {
			t.Errorf("ServeHTTP1: %v", s.err)
		}
	})
	t.Run("upstream closes while idle", func(t *testing.T) {
		addr := rawUpstream(t, func(c net.Conn) {
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
		})
		f := startFront(t, addr, l7.ServeHTTP1, allowAll)
		c, br := dialRaw(t, f.Addr)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		readResponse(t, br, "GET")
		expectEOF(t, br) // passed on, as a relay would
	})
}

// Byte counts are what was read off each side's wire.
func TestHTTP1ByteCounts(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	addr := rawUpstream(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for range 2 {
			if _, err := c.Read(buf); err != nil {
				return
			}
			c.Write([]byte(resp))
		}
	})
	f := startFront(t, addr, l7.ServeHTTP1, allowAll)
	c, br := dialRaw(t, f.Addr)
	req := "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
	for range 2 {
		c.Write([]byte(req))
		readResponse(t, br, "POST")
	}
	c.Close()
	s := f.waitDone(t)
	if s.up != int64(2*len(req)) || s.down != int64(2*len(resp)) {
		t.Errorf("counted %d up, %d down; want %d, %d", s.up, s.down, 2*len(req), 2*len(resp))
	}
}

func TestHTTP1UpstreamFailure(t *testing.T) {
	tests := []struct {
		name   string
		handle func(net.Conn)
	}{
		{name: "closes without answering", handle: func(c net.Conn) { c.Read(make([]byte, 4096)) }},
		{name: "answers garbage", handle: func(c net.Conn) {
			c.Read(make([]byte, 4096))
			c.Write([]byte("SSH-2.0-not-http\r\n\r\n"))
		}},
		{name: "resets", handle: func(c net.Conn) {
			c.Read(make([]byte, 4096))
			c.(*net.TCPConn).SetLinger(0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			f := startFront(t, rawUpstream(t, tc.handle), l7.ServeHTTP1, allowAll)
			c, br := dialRaw(t, f.Addr)
			c.Write([]byte("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"))
			resp, _ := readResponse(t, br, "GET")
			if resp.StatusCode != 502 {
				t.Fatalf("status %d, want 502", resp.StatusCode)
			}
			r := f.Log.wait(t, 1)[0]
			if r.Status != 502 || r.Denied || !strings.HasPrefix(r.Reason, "upstream: ") {
				t.Errorf("report %+v", r)
			}
			expectEOF(t, br)
		})
	}
}

// The upstream closing a kept-alive connection as the next request comes
// (its idle timeout) closes the client's connection without a 502, as a
// relay would, so that the client retries on a new one.
func TestHTTP1UpstreamClosesKeptConnection(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf)
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
		c.Read(buf) // the second request, never answered
	})
	f := startFront(t, addr, l7.ServeHTTP1, allowAll)
	c, br := dialRaw(t, f.Addr)
	c.Write([]byte("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"))
	readResponse(t, br, "GET")
	c.Write([]byte("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"))
	expectEOF(t, br)
	reps := f.Log.wait(t, 2)
	if r := reps[1]; r.Status != 0 || r.Path != "/2" || !strings.Contains(r.Reason, "kept-alive") {
		t.Errorf("report %+v", r)
	}
}

// A 101 response turns the connection into a raw relay both ways.
func TestHTTP1Upgrade(t *testing.T) {
	noLeaks(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "no upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nwelcome|")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client half-closes
	}, false)
	f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
	c, br := dialRaw(t, f.Addr)
	c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly|"))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	c.Write([]byte("raw bytes \x00\xff not HTTP"))
	c.(*net.TCPConn).CloseWrite()
	rest, err := io.ReadAll(br)
	if want := "welcome|early|raw bytes \x00\xff not HTTP"; string(rest) != want || err != nil {
		t.Errorf("after the upgrade read %q, %v; want %q", rest, err, want)
	}
	s := f.waitDone(t)
	if s.err != nil || s.up < int64(len("raw bytes  not HTTP")) {
		t.Errorf("ServeHTTP1: %+v", s)
	}
	if r := f.Log.wait(t, 1)[0]; r.Status != 101 || r.Path != "/ws" {
		t.Errorf("report %+v", r)
	}
}

// An h2c upgrade would let later requests skip authorization: the proxy
// drops it and the request goes on as HTTP/1.1.
func TestHTTP1H2CUpgradeDropped(t *testing.T) {
	var upgradeSeen atomic.Value
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		upgradeSeen.Store(r.Header.Get("Upgrade") + "|" + r.Header.Get("Http2-Settings"))
		io.WriteString(w, "plain")
	}, true)
	f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
	c, br := dialRaw(t, f.Addr)
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"))
	if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "plain" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if got := upgradeSeen.Load(); got != "|" {
		t.Errorf("upstream saw Upgrade|HTTP2-Settings %q, want neither", got)
	}
}

// HTTP/1.0 clients get an unchunked body ended by close.
func TestHTTP1ClientHTTP10(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1 ")
		w.(http.Flusher).Flush() // forces chunked for HTTP/1.1
		io.WriteString(w, "part2")
	}, false)
	f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
	c, _ := dialRaw(t, f.Addr)
	c.Write([]byte("GET / HTTP/1.0\r\nHost: x\r\n\r\n"))
	all, _ := io.ReadAll(c)
	if !strings.HasSuffix(string(all), "\r\n\r\npart1 part2") || strings.Contains(string(all), "chunked") {
		t.Errorf("HTTP/1.0 client read %q", all)
	}
}

// The client going away, cleanly or not, ends everything.
func TestHTTP1ClientGoesAway(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *net.TCPConn)
	}{
		{name: "half-close after a request", end: func(c *net.TCPConn) {
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			c.CloseWrite()
			io.Copy(io.Discard, c)
		}},
		{name: "reset mid-body", end: func(c *net.TCPConn) {
			c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial"))
			c.SetLinger(0)
			c.Close()
		}},
		{name: "close mid-head", end: func(c *net.TCPConn) {
			c.Write([]byte("GET / HTTP/1.1\r\nHost:"))
			c.Close()
		}},
		{name: "close while idle", end: func(c *net.TCPConn) { c.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				io.WriteString(w, "ok")
			}, false)
			f := startFront(t, up.Addr, l7.ServeHTTP1, allowAll)
			c, _ := dialRaw(t, f.Addr)
			tc.end(c.(*net.TCPConn))
			f.waitDone(t)
		})
	}
}
