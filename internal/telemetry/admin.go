package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin is what the admin endpoints expose.
type Admin struct {
	Registry *prometheus.Registry
	// Ready reports whether the process can do its job.
	Ready func() error
	// Status, if set, is served as JSON at /status.
	Status func() any
	// Routes are more handlers, by ServeMux pattern (a sidecar's
	// app-health probes).
	Routes map[string]http.Handler
}

// ServeAdmin serves /metrics, /ready, /live and /status on ln until ctx ends.
// Only requests addressed to this host by name or loopback are answered, so
// a web page cannot reach the endpoints through DNS rebinding.
func ServeAdmin(ctx context.Context, ln net.Listener, a Admin) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	if a.Status != nil {
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.Encode(a.Status())
		})
	}
	for pattern, h := range a.Routes {
		mux.Handle(pattern, h)
	}
	srv := &http.Server{Handler: hostGuard(ln.Addr(), mux), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// hostGuard answers 421 to requests whose Host is neither a loopback name
// nor the address the server listens on.
func hostGuard(addr net.Addr, next http.Handler) http.Handler {
	listenHost, _, _ := net.SplitHostPort(addr.String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		ip := net.ParseIP(host)
		switch {
		case host == "localhost", host == listenHost, ip != nil && (ip.IsLoopback() || ip.String() == listenHost):
			next.ServeHTTP(w, r)
		case ip != nil && listenHost != "" && net.ParseIP(listenHost).IsUnspecified():
			next.ServeHTTP(w, r) // listening everywhere: any address of this host is fine
		default:
			http.Error(w, "hopseal admin: unexpected Host header "+strconv.Quote(r.Host)+"; use an IP address or localhost", http.StatusMisdirectedRequest)
		}
	})
}
