package l7_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/hopseal/hopseal/internal/l7"
)

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP.
func h2cClient(t *testing.T) (*http.Client, *http2.Transport) {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr
}

// Concurrent streams on one connection: each authorized and reported; a
// denied one gets its 403 while the others go on.
func TestHTTP2Streams(t *testing.T) {
	noLeaks(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto", r.Proto)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.RequestURI(), len(body))
	}, true)
	f := startFront(t, up.Addr, l7.ServeHTTP2, denyPrefix("/admin"))
	client, tr := h2cClient(t)
	paths := []string{"/a?x=1", "/b", "/admin/secrets", "/c", "/d"}
	var wg sync.WaitGroup
	results := make([]string, len(paths))
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post("http://"+f.Addr+p, "text/plain", strings.NewReader("body"))
			if err != nil {
				results[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[i] = fmt.Sprintf("%d %s %s|%s", resp.StatusCode, resp.Header.Get("X-Proto"), resp.Header.Get(l7.DeniedHeader), b)
		}()
	}
	wg.Wait()
	for i, p := range paths {
		want := "200 HTTP/2.0 |POST " + p + " 4"
		if strings.HasPrefix(p, "/admin") {
			want = "403  path /admin is not allowed for this peer|hopseal: forbidden: path /admin is not allowed for this peer (rule no-admin)\n"
		}
		if results[i] != want {
			t.Errorf("%s: %q, want %q", p, results[i], want)
		}
	}
	reps := f.Log.wait(t, len(paths))
	var got []string
	for _, r := range reps {
		got = append(got, fmt.Sprintf("%s %s %s %d %v %s", r.Proto, r.Method, r.Path, r.Status, r.Denied, r.Rule))
		if r.Duration <= 0 || r.Authority != f.Addr || !r.Denied && (r.ReqBytes != 4 || r.RespBytes == 0) {
			t.Errorf("report %+v", r)
		}
	}
	sort.Strings(got)
	want := []string{
		"HTTP/2.0 POST /a 200 false default-allow", "HTTP/2.0 POST /admin/secrets 403 true no-admin",
		"HTTP/2.0 POST /b 200 false default-allow", "HTTP/2.0 POST /c 200 false default-allow", "HTTP/2.0 POST /d 200 false default-allow",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reports\n%q\nwant\n%q", got, want)
	}
	if n := len(up.requests()); n != 4 {
		t.Errorf("the upstream saw %q, want 4 requests", up.requests())
	}
	tr.CloseIdleConnections()
	if s := f.waitDone(t); s.err != nil || s.up == 0 || s.down == 0 {
		t.Errorf("ServeHTTP2: %+v", s)
	}
	if len(f.Done) != 0 {
		t.Error("more than one connection was used")
	}
}

// Trailers pass both ways, and large bodies stream.
func TestHTTP2TrailersAndLargeBodies(t *testing.T) {
	const size = 20 << 20
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		w.Header().Set("Trailer", "X-Sum")
		io.Copy(w, io.LimitReader(&pattern{}, size))
		w.Header().Set("X-Sum", fmt.Sprintf("%d %x %s", n, h.Sum(nil), r.Trailer.Get("X-Client")))
	}, true)
	f := startFront(t, up.Addr, l7.ServeHTTP2, allowAll)
	client, _ := h2cClient(t)
	h := sha256.New()
	pr, pw := io.Pipe()
	go func() {
		io.Copy(pw, io.TeeReader(io.LimitReader(&pattern{}, size), h))
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", "http://"+f.Addr+"/blob", pr)
	req.Trailer = http.Header{"X-Client": nil}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if got, want := resp.Trailer.Get("X-Sum"), fmt.Sprintf("%d %x ", size, h.Sum(nil)); got != want {
		t.Errorf("trailer %q, want %q", got, want)
	}
	r := f.Log.wait(t, 1)[0]
	if r.ReqBytes != size || r.RespBytes != size {
		t.Errorf("report %+v", r)
	}
}

// Request trailers reach the upstream.
func TestHTTP2RequestTrailers(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.Trailer.Get("X-Checksum"))
	}, true)
	f := startFront(t, up.Addr, l7.ServeHTTP2, allowAll)
	client, _ := h2cClient(t)
	body := &trailerBody{r: strings.NewReader("data")}
	req, _ := http.NewRequest("POST", "http://"+f.Addr+"/t", body)
	req.Trailer = http.Header{"X-Checksum": nil}
	body.onEOF = func() { req.Trailer.Set("X-Checksum", "abc123") }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "abc123" {
		t.Errorf("upstream saw trailer %q", got)
	}
}

type trailerBody struct {
	r     io.Reader
	onEOF func()
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.onEOF()
	}
	return n, err
}

func TestHTTP2Connect(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {}, true)
	f := startFront(t, up.Addr, l7.ServeHTTP2, allowAll)
	client, _ := h2cClient(t)
	req, _ := http.NewRequest("CONNECT", "http://"+f.Addr, nil)
	req.Host = "elsewhere:443"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || !strings.Contains(resp.Header.Get(l7.DeniedHeader), "CONNECT") {
		t.Errorf("status %d, %q", resp.StatusCode, resp.Header.Get(l7.DeniedHeader))
	}
	if len(up.requests()) != 0 {
		t.Errorf("the upstream saw %q", up.requests())
	}
}

// The upstream resetting a stream before answering gives that stream a
// 502; the connection stays up for the next.
func TestHTTP2UpstreamStreamFailure(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "fine")
	}, true)
	f := startFront(t, up.Addr, l7.ServeHTTP2, allowAll)
	client, _ := h2cClient(t)
	for _, c := range []struct {
		path   string
		status int
	}{{"/boom", 502}, {"/ok", 200}} {
		resp, err := client.Get("http://" + f.Addr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.path, resp.StatusCode, c.status)
		}
	}
	if r := f.Log.wait(t, 1)[0]; r.Status != 502 || !strings.HasPrefix(r.Reason, "upstream: ") {
		t.Errorf("report %+v", r)
	}
	if len(f.Done) != 0 {
		t.Error("the connection ended")
	}
}

// The upstream connection going away ends the client's, as a relay would.
func TestHTTP2UpstreamCloses(t *testing.T) {
	noLeaks(t)
	addr := rawUpstream(t, func(c net.Conn) { c.Read(make([]byte, 1)) })
	f := startFront(t, addr, l7.ServeHTTP2, allowAll)
	c, err := net.Dial("tcp", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fr := http2.NewFramer(c, c)
	c.Write([]byte(http2.ClientPreface))
	fr.WriteSettings()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := fr.ReadFrame(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the client connection stayed open")
			}
			break
		}
	}
	f.waitDone(t)
}

func TestHTTP2ClientGoesAway(t *testing.T) {
	noLeaks(t)
	block := make(chan struct{})
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}, true)
	t.Cleanup(func() { close(block) })
	f := startFront(t, up.Addr, l7.ServeHTTP2, allowAll)
	client, tr := h2cClient(t)
	resp, err := client.Get("http://" + f.Addr + "/hang")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // resets the stream
	tr.CloseIdleConnections()
	f.waitDone(t)
	r := f.Log.wait(t, 1)[0]
	if r.Status != 200 || r.Path != "/hang" {
		t.Errorf("report %+v", r)
	}
}
