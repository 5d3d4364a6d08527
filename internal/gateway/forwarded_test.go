package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// From a trusted forwarder (an ALB, which ends TLS and cannot send a PROXY
// header) the gateway keeps X-Forwarded-For, appends the forwarder, and
// logs the rightmost address that is not a forwarder as the client; on
// both the fast path (HTTP/1.1) and net/http's (HTTP/2).
func TestTrustedForwarders(t *testing.T) {
	e := newEnv(t)
	web := fastBackend(e, nil)
	g := e.start(terminateFile(e, web, web, "    trusted_forwarders: [127.0.0.1, 10.0.0.0/8]\n"))
	tests := []struct {
		name, xff, proto         string
		wantXFF, wantProto, user string
	}{
		{"client behind two forwarders", "203.0.113.7, 10.0.0.9", "http", "203.0.113.7, 10.0.0.9, 127.0.0.1", "http", "203.0.113.7"},
		{"what the client wrote is not believed", "198.51.100.1, 203.0.113.7", "https", "198.51.100.1, 203.0.113.7, 127.0.0.1", "https", "203.0.113.7"},
		{"no header: the forwarder is the client", "", "", "127.0.0.1", "https", "127.0.0.1:"},
		{"proto other than http or https", "203.0.113.7", "gopher", "203.0.113.7, 127.0.0.1", "https", "203.0.113.7"},
	}
	for _, h2 := range []bool{false, true} {
		c := e.client(g.addr("https"), h2, nil)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := "/fwd-" + strings.Repeat("x", i) + map[bool]string{false: "-h1", true: "-h2"}[h2]
				req, _ := http.NewRequest("GET", "https://shop.example.com"+path, nil)
				if tt.xff != "" {
					req.Header.Set("X-Forwarded-For", tt.xff)
					req.Header.Set("X-Forwarded-Proto", tt.proto)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, want := range []string{"X-Forwarded-For: " + tt.wantXFF + "\n", "X-Forwarded-Proto: " + tt.wantProto + "\n"} {
					if !strings.Contains(string(body), want) {
						t.Errorf("h2 %v: the backend saw\n%s\nwant %q", h2, body, want)
					}
				}
				line := g.waitLine(t, "http request", func(l map[string]any) bool { return l["path"] == path })
				if client, _ := line["client"].(string); !strings.HasPrefix(client, tt.user) {
					t.Errorf("h2 %v: logged client %q, want %s", h2, client, tt.user)
				}
			})
		}
	}
}
