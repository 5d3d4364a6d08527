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
// (chosen by SNI) answers, through the backend its path selects. It serves
// what the fast path (h1.go) hands over, and HTTP/2.
func (g *Gateway) serveRoute(w http.ResponseWriter, r *http.Request) {
	cs := connOf(r)
	if cs == nil || cs.route == nil {
		http.Error(w, "no route", http.StatusInternalServerError) // unreachable: the feed always attaches one
		return
	}
	rec := &recorder{ResponseWriter: w}
	x := exchange{route: cs.route.cfg.Hostname, start: time.Now()}
	rt := g.latestRoute(cs)
	if rt == nil {
		rec.answer(routeGone)
		g.finishRequest(cs, x.from(r, rec))
		return
	}
	x.route = rt.cfg.Hostname
	if rt.hsts != "" {
		w.Header().Set(hstsHeader, rt.hsts)
	}
	b, a := rt.choose(r.Host, r.URL.Path, r.URL.EscapedPath())
	x.client = forwardedBy(r).client
	switch {
	case b != nil:
		x.dest = b.cfg.Address
		b.proxy.ServeHTTP(rec, rec.traced(r))
	case a.status == http.StatusNotFound:
		rec.reason = a.reason
		http.NotFound(rec, r)
	default:
		rec.answer(a)
	}
	g.finishRequest(cs, x.from(r, rec))
}

// answer is a response the gateway gives itself instead of proxying.
type answer struct {
	status int
	body   string // for the client
	reason string // for the log
}

var routeGone = &answer{http.StatusMisdirectedRequest, "misdirected request: open a new connection",
	"the route of this server name changed since the connection was made"}

// choose picks the backend of a request on rt, or the answer that refuses
// it.
func (rt *route) choose(host, path, escapedPath string) (*backend, *answer) {
	switch {
	case !rt.matchesHost(host):
		// Another name on a connection made for this one (HTTP/2
		// coalescing, or a Host that differs from the SNI): the client
		// must open a connection for that name.
		return nil, &answer{http.StatusMisdirectedRequest, "misdirected request: open a connection for this host",
			"Host does not match the route's server name"}
	case !canonicalPath(path, escapedPath):
		return nil, &answer{http.StatusBadRequest, "bad request: path is not canonical",
			"path is not canonical (empty or dot segments, or an encoded slash)"}
	}
	b := rt.backendFor(path)
	switch {
	case b == nil:
		return nil, &answer{http.StatusNotFound, "404 page not found", "no backend for this path"}
	case b.proxy == nil:
		return nil, &answer{http.StatusInternalServerError, "backend not available",
			"the backend did not resolve; see the route's status"}
	}
	return b, nil
}

// redirect answers a redirect listener: 308 to the same host and path over
// https, for hosts some route of the gateway serves; it never proxies.
func (g *Gateway) redirect(port int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cs := connOf(r)
		rec := &recorder{ResponseWriter: w}
		x := exchange{start: time.Now()}
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		x.route = g.servedBy(host)
		if x.route == "" {
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
			g.finishRequest(cs, x.from(r, rec))
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

// exchange is one HTTP request the gateway served, as its log line,
// metrics and /connections report it.
type exchange struct {
	route, dest               string
	client                    string // the one a trusted forwarder named; "": the connection's
	proto, method, host, path string
	status                    int
	reason                    string
	bytes                     int64 // of the response body
	trace                     string
	upstream                  *telemetry.Upstream
	start                     time.Time
}

// from completes x with what net/http's side knows of the request.
func (x *exchange) from(r *http.Request, rec *recorder) *exchange {
	x.proto, x.method, x.host, x.path = r.Proto, r.Method, r.Host, r.URL.Path
	x.status, x.reason, x.bytes, x.upstream = rec.status(), rec.reason, rec.bytes, rec.upstream.Load()
	x.trace = r.Header.Get(TraceHeader)
	return x
}

// finishRequest logs, counts and lists one finished HTTP exchange.
func (g *Gateway) finishRequest(cs *conn, x *exchange) {
	d := time.Since(x.start)
	if x.client == "" {
		x.client = addrString(cs.client)
	}
	g.events.Request(x.route, x.status, d)
	level := slog.LevelInfo
	if x.status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("listener", cs.listener.cfg.Name),
		slog.String("route", x.route),
		slog.String("client", x.client),
		slog.String("proto", x.proto),
		slog.String("method", x.method),
		slog.String("host", x.host),
		slog.String("path", x.path),
		slog.Int("status", x.status),
		slog.String("destination", x.dest),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("response_bytes", x.bytes),
	}
	if x.reason != "" {
		attrs = append(attrs, slog.String("reason", x.reason))
	}
	telemetry.LogLine(g.log, level, "http request", attrs)
	g.recordRequest(cs, x, d)
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

// answer writes a's response and notes why.
func (w *recorder) answer(a *answer) {
	w.reason = a.reason
	http.Error(w, a.body, a.status)
}

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
