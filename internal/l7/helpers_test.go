package l7_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/testenv"
)

type serveFunc func(client net.Conn, prefix []byte, upstream net.Conn, opts l7.Options) (int64, int64, error)

// served is what one proxied connection returned.
type served struct {
	up, down int64
	err      error
}

// front runs serve for every connection to its listener, with upstream
// dialled at upstreamAddr, as the proxy does once a flow is open.
type front struct {
	Addr string
	Done chan served // one per connection, when serve returns
	Log  *observed
}

func startFront(t testing.TB, upstreamAddr string, serve serveFunc, authorize func(method, path string) (bool, string, string)) *front {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{Addr: l.Addr().String(), Done: make(chan served, 100), Log: &observed{}}
	opts := l7.Options{Authorize: authorize, Observe: f.Log.add}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstreamAddr)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				up, down, err := serve(c, nil, u, opts)
				f.Done <- served{up, down, err}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return f
}

// observed collects reported requests.
type observed struct {
	mu   sync.Mutex
	reqs []l7.Request
}

func (o *observed) add(r l7.Request) {
	o.mu.Lock()
	o.reqs = append(o.reqs, r)
	o.mu.Unlock()
}

func (o *observed) all() []l7.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]l7.Request(nil), o.reqs...)
}

// wait returns the reports once there are n.
func (o *observed) wait(t testing.TB, n int) []l7.Request {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "request reports", func() bool { return len(o.all()) >= n })
	return o.all()
}

// waitDone returns what serve returned for the next connection to end.
func (f *front) waitDone(t testing.TB) served {
	t.Helper()
	select {
	case s := <-f.Done:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the proxied connection did not end")
		return served{}
	}
}

// upstreamServer is a real net/http server; it counts the requests it got.
type upstreamServer struct {
	Addr string
	mu   sync.Mutex
	seen []string // "METHOD path"
}

func startUpstream(t testing.TB, h http.HandlerFunc, h2c bool) *upstreamServer {
	t.Helper()
	u := &upstreamServer{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Method+" "+r.URL.Path)
		u.mu.Unlock()
		h(w, r)
	})}
	if h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return u
}

func (u *upstreamServer) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// rawUpstream accepts one connection at a time and hands it to handle.
func rawUpstream(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	return testenv.ServeTCP(t, handle)
}

// dialRaw opens a plain TCP connection for hand-written requests.
func dialRaw(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// readResponse reads one response and its whole body.
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return resp, string(b)
}

// expectEOF asserts the connection was closed by the other end.
func expectEOF(t testing.TB, br *bufio.Reader) {
	t.Helper()
	if b, err := br.ReadByte(); err == nil {
		t.Fatalf("read %q, want the connection closed", b)
	}
}

// noLeaks fails the test if goroutines started during it are still
// running a few seconds after it ends.
func noLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Fatalf("%d goroutines running, %d before the test:\n%s", runtime.NumGoroutine(), base, buf[:n])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func allowAll(string, string) (bool, string, string) { return true, "allow-all", "" }

// denyPrefix denies paths under prefix with rule "no-admin".
func denyPrefix(prefix string) func(string, string) (bool, string, string) {
	return func(method, path string) (bool, string, string) {
		if strings.HasPrefix(path, prefix) {
			return false, "no-admin", "path " + prefix + " is not allowed for this peer"
		}
		return true, "default-allow", ""
	}
}
