package apphealth

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// serve asks h for path and returns the status and body.
func serve(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, "http://10.1.2.3:14090"+path, nil))
	return w.Code, w.Body.String()
}

// port is the loopback port of a test server's URL or listener address.
func port(t *testing.T, hostport string) uint16 {
	t.Helper()
	if u, err := url.Parse(hostport); err == nil && u.Host != "" {
		hostport = u.Host
	}
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(n)
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, ln.Addr().String())
	ln.Close()
	return p
}

// app is an HTTP app with a healthy and an unhealthy path, and a redirect to each.
func app(t *testing.T, tlsServer bool) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("full") != "" && r.Header.Get("X-Probe") != "yes" {
			http.Error(w, "want X-Probe", http.StatusBadRequest)
			return
		}
		w.Write([]byte("fine"))
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "web.example" || !strings.HasPrefix(r.UserAgent(), "kube-probe/") {
			http.Error(w, "want Host web.example from a kube-probe user agent", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusInternalServerError) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.Handle("/to-healthz", http.RedirectHandler("/healthz", http.StatusFound))
	mux.Handle("/to-broken", http.RedirectHandler("/broken", http.StatusFound))
	mux.Handle("/elsewhere", http.RedirectHandler("http://192.0.2.1/broken", http.StatusFound))
	var s *httptest.Server
	if tlsServer {
		s = httptest.NewTLSServer(mux)
	} else {
		s = httptest.NewServer(mux)
	}
	t.Cleanup(s.Close)
	return s
}

func TestHTTPGetProbe(t *testing.T) {
	plain, secure := app(t, false), app(t, true)
	get := func(scheme, path string, p uint16, headers ...Header) Probe {
		return Probe{HTTPGet: &HTTPGet{Scheme: scheme, Path: path, Port: p, Headers: headers}, TimeoutSeconds: 1}
	}
	cases := []struct {
		name  string
		probe Probe
		want  int
	}{
		{"up", get("HTTP", "/healthz", port(t, plain.URL)), 200},
		{"wrong status", get("HTTP", "/broken", port(t, plain.URL)), 503},
		{"down", get("HTTP", "/healthz", closedPort(t)), 503},
		{"not found", get("HTTP", "/nothing", port(t, plain.URL)), 503},
		{"redirect to a healthy path", get("HTTP", "/to-healthz", port(t, plain.URL)), 200},
		{"redirect to a broken path", get("HTTP", "/to-broken", port(t, plain.URL)), 503},
		{"redirect to another host counts as an answer", get("HTTP", "/elsewhere", port(t, plain.URL)), 200},
		{"query and header", get("HTTP", "/healthz?full=1", port(t, plain.URL), Header{"X-Probe", "yes"}), 200},
		{"query without its header", get("HTTP", "/healthz?full=1", port(t, plain.URL)), 503},
		{"host header", get("HTTP", "/host", port(t, plain.URL), Header{"Host", "web.example"}), 200},
		{"no host header", get("HTTP", "/host", port(t, plain.URL)), 503},
		{"https without verification", get("HTTPS", "/healthz", port(t, secure.URL)), 200},
		{"https app probed over http", get("HTTP", "/healthz", port(t, secure.URL)), 503},
		{"timeout", get("HTTP", "/slow", port(t, plain.URL)), 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Probes{"web": {Liveness: tc.probe}})
			start := time.Now()
			code, body := serve(t, h, http.MethodGet, "/app-health/web/liveness")
			if code != tc.want {
				t.Fatalf("status %d (%q), want %d", code, body, tc.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("probe took %s with a 1 s timeout", d)
			}
		})
	}
}

func TestTCPSocketProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		port uint16
		want int
	}{
		{"up", port(t, ln.Addr().String()), 200},
		{"down", closedPort(t), 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Probes{"db": {Readiness: {TCPSocket: &TCPSocket{Port: tc.port}, TimeoutSeconds: 1}}})
			if code, body := serve(t, h, http.MethodGet, "/app-health/db/readiness"); code != tc.want {
				t.Fatalf("status %d (%q), want %d", code, body, tc.want)
			}
		})
	}
}

func TestGRPCProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("shop.Orders", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("shop.Payments", healthpb.HealthCheckResponse_NOT_SERVING)
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	up := port(t, ln.Addr().String())
	for _, tc := range []struct {
		name    string
		port    uint16
		service string
		want    int
	}{
		{"server serving", up, "", 200},
		{"service serving", up, "shop.Orders", 200},
		{"service not serving", up, "shop.Payments", 503},
		{"unknown service", up, "shop.Nothing", 503},
		{"down", closedPort(t), "", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Probes{"api": {Startup: {GRPC: &GRPC{Port: tc.port, Service: tc.service}, TimeoutSeconds: 1}}})
			if code, body := serve(t, h, http.MethodGet, "/app-health/api/startup"); code != tc.want {
				t.Fatalf("status %d (%q), want %d", code, body, tc.want)
			}
		})
	}
}

func TestUnknownPaths(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := New(Probes{"web": {Liveness: {TCPSocket: &TCPSocket{Port: port(t, ln.Addr().String())}, TimeoutSeconds: 1}}})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/app-health/web/liveness", 200},
		{http.MethodHead, "/app-health/web/liveness", 200},
		{http.MethodPost, "/app-health/web/liveness", 405},
		{http.MethodGet, "/app-health/web/readiness", 404},
		{http.MethodGet, "/app-health/db/liveness", 404},
		{http.MethodGet, "/app-health/web/liveness/x", 404},
		{http.MethodGet, "/app-health/web", 404},
		{http.MethodGet, "/app-health//liveness", 404},
		{http.MethodGet, "/other/web/liveness", 404},
	} {
		if code, _ := serve(t, h, tc.method, tc.path); code != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}
	if code, _ := serve(t, New(nil), http.MethodGet, "/app-health/web/liveness"); code != 404 {
		t.Errorf("a handler without probes answered %d, want 404", code)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvVar, "")
	h, err := FromEnv()
	if err != nil || len(h.Probes()) != 0 {
		t.Fatalf("empty variable: %v, %v; want no probes", h, err)
	}
	t.Setenv(EnvVar, `{"web":{"readiness":{"httpGet":{"scheme":"HTTP","path":"/ready","port":8080},"timeoutSeconds":2}}}`)
	if h, err = FromEnv(); err != nil {
		t.Fatal(err)
	}
	if got := h.Probes()["web"][Readiness].HTTPGet; got == nil || got.Port != 8080 || got.Path != "/ready" {
		t.Fatalf("probes %+v", h.Probes())
	}
	t.Setenv(EnvVar, `{"web":{"readiness":{}}}`)
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "web.readiness.handler") {
		t.Fatalf("invalid variable: err %v, want one naming web.readiness.handler", err)
	}
}
