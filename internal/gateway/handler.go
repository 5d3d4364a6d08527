package gateway

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hopseal/hopseal/internal/telemetry"
)

// serveRoute is the HTTP handler of TLS listeners: the connection's route
// (chosen by SNI) answers, through the backend its path selects.
func (g *Gateway) serveRoute(w http.ResponseWriter, r *http.Request) {
	cs := connOf(r)
	if cs == nil || cs.route == nil {
		http.Error(w, "no route", http.StatusInternalServerError) // unreachable: the feed always attaches one
		return
	}
	rt := g.latestRoute(cs)
	rec := &recorder{ResponseWriter: w}
	start := time.Now()
	if rt == nil {
		rec.reason = "the route of this server name changed since the connection was made"
		http.Error(rec, "misdirected request: open a new connection", http.StatusMisdirectedRequest)
		g.request(cs, r, rec, cs.route.cfg.Hostname, "", time.Since(start))
		return
	}
	if rt.hsts != "" {
		w.Header().Set(hstsHeader, rt.hsts)
	}
	b := g.dispatch(rec, r, rt)
	dest := ""
	if b != nil {
		dest = b.cfg.Address
	}
	g.request(cs, r, rec, rt.cfg.Hostname, dest, time.Since(start))
}

// dispatch refuses what the route must not pass on, else proxies.
func (g *Gateway) dispatch(w *recorder, r *http.Request, rt *route) *backend {
	switch {
	case !rt.matchesHost(r.Host):
		// Another name on a connection made for this one (HTTP/2
		// coalescing, or a Host that differs from the SNI): the client
		// must open a connection for that name.
		w.reason = "Host does not match the route's server name"
		http.Error(w, "misdirected request: open a connection for this host", http.StatusMisdirectedRequest)
	case !canonicalPath(r.URL.Path, r.URL.EscapedPath()):
		w.reason = "path is not canonical (empty or dot segments, or an encoded slash)"
		http.Error(w, "bad request: path is not canonical", http.StatusBadRequest)
	default:
		b := rt.backendFor(r.URL.Path)
		if b == nil {
			w.reason = "no backend for this path"
			http.NotFound(w, r)
			return nil
		}
		if b.proxy == nil {
			w.reason = "the backend did not resolve; see the route's status"
			http.Error(w, "backend not available", http.StatusInternalServerError)
			return b
		}
		b.proxy.ServeHTTP(w, w.traced(r))
		return b
	}
	return nil
}

// redirect answers a redirect listener: 308 to the same host and path over
// https, for hosts some route of the gateway serves; it never proxies.
func (g *Gateway) redirect(port int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cs := connOf(r)
		rec := &recorder{ResponseWriter: w}
		start := time.Now()
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		route := g.servedBy(host)
		if route == "" {
			rec.reason = "no route serves this host"
			http.Error(rec, "no HTTPS site for this host", http.StatusNotFound)
		} else {
			if port != 443 {
				host = net.JoinHostPort(host, strconv.Itoa(port))
			}
			u := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
			http.Redirect(rec, r, u.String(), http.StatusPermanentRedirect)
		}
		if cs != nil {
			g.request(cs, r, rec, route, "", time.Since(start))
		}
	}
}

// servedBy is the hostname of a route, on any listener, that serves host.
func (g *Gateway) servedBy(host string) string {
	for _, l := range g.allListeners() {
		if r := l.routes.lookup(host); r != nil {
			return r.cfg.Hostname
		}
	}
	return ""
}

// request logs and counts one finished HTTP exchange.
func (g *Gateway) request(cs *conn, r *http.Request, rec *recorder, route, dest string, d time.Duration) {
	code := rec.status()
	g.events.Request(route, code, d)
	level := slog.LevelInfo
	if code >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("listener", cs.listener.cfg.Name),
		slog.String("route", route),
		slog.String("client", addrString(cs.client)),
		slog.String("proto", r.Proto),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.Int("status", code),
		slog.String("destination", dest),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("response_bytes", rec.bytes),
	}
	if rec.reason != "" {
		attrs = append(attrs, slog.String("reason", rec.reason))
	}
	telemetry.LogLine(g.log, level, "http request", attrs)
	g.recordRequest(cs, r, rec, route, dest, time.Now().Add(-d), d)
}

// recorder notes the status and size of a response. Unwrap lets the
// reverse proxy reach the connection's Flusher and Hijacker.
type recorder struct {
	http.ResponseWriter
	code     int
	bytes    int64
	reason   string
	upstream atomic.Pointer[telemetry.Upstream] // the backend connection (traced)
}

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx are interim responses
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recorder) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
