package apphealth

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const valid = `{"web":{"liveness":{"httpGet":{"scheme":"HTTP","path":"/healthz","port":8080,"headers":[{"name":"X-A","value":"b"}]},"timeoutSeconds":1},` +
		`"readiness":{"tcpSocket":{"port":8080},"timeoutSeconds":1}},"api":{"startup":{"grpc":{"port":9090},"timeoutSeconds":3}}}`
	cases := []struct {
		name, old, new, want string // want: "" for valid, else a substring of the error
	}{
		{"valid", "", "", ""},
		{"unknown key", `"timeoutSeconds":3`, `"timeoutSeconds":3,"period":1`, `unknown field "period"`},
		{"unknown kind", `"startup"`, `"warmup"`, "api.warmup: unknown probe kind"},
		{"no handler", `"grpc":{"port":9090},`, ``, "api.startup.handler: 0 of"},
		{"two handlers", `"grpc":{"port":9090}`, `"grpc":{"port":9090},"tcpSocket":{"port":1}`, "api.startup.handler: 2 of"},
		{"zero port", `"port":9090`, `"port":0`, "api.startup.grpc.port: 0 is not a port"},
		{"port too big", `"port":9090`, `"port":70000`, "cannot unmarshal"},
		{"zero timeout", `"timeoutSeconds":3`, `"timeoutSeconds":0`, "api.startup.timeoutSeconds: 0 is out of range"},
		{"bad scheme", `"HTTP"`, `"FTP"`, `web.liveness.httpGet.scheme: "FTP"`},
		{"relative path", `"/healthz"`, `"healthz"`, `web.liveness.httpGet.path: "healthz"`},
		{"path with a host", `"/healthz"`, `"//evil.example/x"`, `web.liveness.httpGet.path`},
		{"header with CRLF", `"value":"b"`, `"value":"b\r\nX-Evil: 1"`, "web.liveness.httpGet.headers[0]"},
		{"bad header name", `"name":"X-A"`, `"name":"X A"`, "web.liveness.httpGet.headers[0]"},
		{"container with a slash", `"api":`, `"a/b":`, `container name "a/b"`},
		{"trailing text", valid, valid + " {}", "text after the JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := valid
			if tc.old != "" {
				if !strings.Contains(in, tc.old) {
					t.Fatalf("baseline has no %q", tc.old)
				}
				in = strings.Replace(in, tc.old, tc.new, 1)
			}
			p, err := Parse([]byte(in))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p["web"][Liveness].HTTPGet.Headers[0].Value != "b" || p["api"][Startup].GRPC.Port != 9090 {
					t.Fatalf("parsed %+v", p)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), EnvVar) {
				t.Fatalf("error %v, want one starting %s and containing %q", err, EnvVar, tc.want)
			}
		})
	}
}

func TestParseSizeCap(t *testing.T) {
	big := `{"web":{"liveness":{"httpGet":{"scheme":"HTTP","path":"/` + strings.Repeat("a", maxJSON) + `","port":1},"timeoutSeconds":1}}}`
	if _, err := Parse([]byte(big)); err == nil || !strings.Contains(err.Error(), "bytes is more than") {
		t.Fatalf("oversized input: %v", err)
	}
}

// Parse never panics, and what it accepts validates and survives a round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"web":{"liveness":{"httpGet":{"scheme":"HTTP","path":"/healthz","port":8080},"timeoutSeconds":1}}}`))
	f.Add([]byte(`{"db":{"readiness":{"tcpSocket":{"port":5432},"timeoutSeconds":2}},"api":{"startup":{"grpc":{"port":9090,"service":"x"},"timeoutSeconds":1}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted probes fail Validate: %v", err)
		}
		for c, kinds := range p {
			for k := range kinds {
				if got, kind, ok := splitPath(PathPrefix + c + "/" + string(k)); !ok || got != c || kind != k {
					t.Fatalf("path of %s/%s does not split back: %q %q %v", c, k, got, kind, ok)
				}
			}
		}
	})
}
