package l7_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hopseal/hopseal/internal/l7"
)

// Spellings that let path checks and apps disagree (Istio CVE-2021-31920
// and kin). Making them canonical is the policy's job; l7's is that
// Authorize sees exactly the path the upstream receives, so a decision on
// one is a decision on the other.
var pathCases = []struct{ sent, path string }{
	{"/public/x", "/public/x"},
	{"/public/x/", "/public/x/"},
	{"//admin", "//admin"},
	{"/public/../admin", "/public/../admin"},
	{"/./admin/", "/./admin/"},
	{"/%61dmin", "/%61dmin"},
	{"/public%2F..%2Fadmin", "/public%2F..%2Fadmin"},
	{"/admin%2fusers", "/admin%2fusers"},
	{"/admin?x=/public", "/admin"},
	{"/a#frag", "/a%23frag"},
	{"/public\\..\\admin", "/public%5C..%5Cadmin"},
	{"/a%00b", "/a%00b"},
}

// pathLog records the paths Authorize saw and the upstream received.
type pathLog struct {
	mu               sync.Mutex
	authorized, sent []string
}

func (l *pathLog) authorize(method, path string) (bool, string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.authorized = append(l.authorized, path)
	return true, "all", ""
}

func (l *pathLog) handler(w http.ResponseWriter, r *http.Request) {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	l.mu.Lock()
	l.sent = append(l.sent, p)
	l.mu.Unlock()
}

func (l *pathLog) check(t *testing.T, want string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.authorized) != 1 || len(l.sent) != 1 || l.authorized[0] != want || l.sent[0] != want {
		t.Errorf("Authorize saw %q, the upstream got %q; want %q for both", l.authorized, l.sent, want)
	}
	l.authorized, l.sent = nil, nil
}

func TestPathAuthorizedIsPathSentHTTP1(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(tc.sent, func(t *testing.T) {
			l := &pathLog{}
			up := startUpstream(t, l.handler, false)
			f := startFront(t, up.Addr, l7.ServeHTTP1, l.authorize)
			c, br := dialRaw(t, f.Addr)
			c.Write([]byte("GET " + tc.sent + " HTTP/1.1\r\nHost: app\r\n\r\n"))
			if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			l.check(t, tc.path)
			if r := f.Log.wait(t, 1)[0]; r.Path != tc.path {
				t.Errorf("reported path %q, want %q", r.Path, tc.path)
			}
		})
	}
}

func TestPathAuthorizedIsPathSentHTTP2(t *testing.T) {
	l := &pathLog{}
	up := startUpstream(t, l.handler, true)
	f := startFront(t, up.Addr, l7.ServeHTTP2, l.authorize)
	client, _ := h2cClient(t)
	for _, tc := range pathCases {
		t.Run(tc.sent, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+f.Addr+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = "//" + f.Addr + tc.sent // sent as is, not cleaned
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			l.check(t, tc.path)
		})
	}
}
