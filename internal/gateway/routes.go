package gateway

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway/certs"
)

// route is a validated route with what serving it needs.
type route struct {
	cfg      config.Route
	listener string
	cert     certs.Source // terminate and reencrypt
	tls      *tls.Config  // the public side of terminate and reencrypt
	backends []*backend   // terminate: longest path prefix first
	splits   []*split     // terminate: the backends by path prefix, longest first
	hsts     string       // Strict-Transport-Security value, or ""
}

// backend is where a route sends traffic.
type backend struct {
	cfg       config.Backend
	proxy     *httputil.ReverseProxy // terminate and reencrypt
	transport *http.Transport        // under proxy
	pool      *backendPool           // the fast path's: HTTP/1.1 mesh backends, reencrypt backends
	mesh      *tls.Config            // passthrough: the mesh client side
}

// closeIdle closes b's idle connections; those in use close when their
// request is done.
func (b *backend) closeIdle() {
	if b.transport != nil {
		b.transport.CloseIdleConnections()
	}
	if b.pool != nil {
		b.pool.close()
	}
}

// routeTable finds a listener's route by server name. An exact name beats
// a wildcard; a wildcard matches exactly one label.
type routeTable struct {
	exact    map[string]*route
	wildcard map[string]*route // by the suffix after "*."
}

func newRouteTable(routes []*route) routeTable {
	t := routeTable{exact: map[string]*route{}, wildcard: map[string]*route{}}
	for _, r := range routes {
		if suffix, ok := strings.CutPrefix(r.cfg.Hostname, "*."); ok {
			t.wildcard[suffix] = r
		} else {
			t.exact[r.cfg.Hostname] = r
		}
	}
	return t
}

// lookup returns the route for a server name, or nil. Names compare
// without regard to case.
func (t routeTable) lookup(name string) *route {
	if name == "" {
		return nil
	}
	name = strings.ToLower(name)
	if r, ok := t.exact[name]; ok {
		return r
	}
	if _, suffix, ok := strings.Cut(name, "."); ok {
		return t.wildcard[suffix]
	}
	return nil
}

// matchesHost reports whether an HTTP Host header (port allowed) names this
// route: the server name for an exact route, any one-label name under a
// wildcard. An empty Host (HTTP/1.0) falls back to the TLS server name.
func (r *route) matchesHost(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	if suffix, ok := strings.CutPrefix(r.cfg.Hostname, "*."); ok {
		label, rest, found := strings.Cut(host, ".")
		return found && label != "" && rest == suffix
	}
	return host == r.cfg.Hostname
}

// backendFor picks a backend of the longest path prefix that matches the
// canonical path segment by segment (/api takes /api and /api/x, not
// /apix), by weight where several share it.
func (r *route) backendFor(path string) *backend {
	for _, s := range r.splits {
		if prefixMatch(s.prefix, path) {
			return s.pick()
		}
	}
	return nil
}

// split is the backends that share a path prefix. Requests go to them in
// turn, each backend getting its weight's share of every run of total
// requests exactly, interleaved rather than in blocks (a stride coprime
// with total walks the positions), so a canary at weight 1 of 100 sees its
// one request early, and tests can count.
type split struct {
	prefix   string
	backends []*backend // those with a weight above 0
	cum      []int      // the running total of their weights
	stride   uint64
	next     atomic.Uint64
}

func splitsOf(bs []*backend) []*split {
	var out []*split
	byPrefix := map[string]*split{}
	for _, b := range bs {
		s := byPrefix[b.cfg.PathPrefix]
		if s == nil {
			s = &split{prefix: b.cfg.PathPrefix}
			byPrefix[s.prefix] = s
			out = append(out, s)
		}
		if b.cfg.Weight > 0 {
			s.backends = append(s.backends, b)
			s.cum = append(s.cum, s.total()+b.cfg.Weight)
		}
	}
	for _, s := range out {
		s.stride = coprimeStride(uint64(s.total()))
	}
	return out
}

func (s *split) total() int {
	if len(s.cum) == 0 {
		return 0
	}
	return s.cum[len(s.cum)-1]
}

func (s *split) pick() *backend {
	switch len(s.backends) {
	case 0:
		return nil
	case 1:
		return s.backends[0]
	}
	pos := int(s.next.Add(1) * s.stride % uint64(s.total()))
	i, _ := slices.BinarySearch(s.cum, pos+1)
	return s.backends[i]
}

// coprimeStride is the first number from about 0.618 n up that shares no
// factor with n.
func coprimeStride(n uint64) uint64 {
	s := max(n*618/1000, 1)
	for gcd(s, n) != 1 {
		s++
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func prefixMatch(prefix, path string) bool {
	if prefix == "/" {
		return true
	}
	rest, ok := strings.CutPrefix(path, prefix)
	return ok && (rest == "" || rest[0] == '/')
}

// canonicalPath reports whether an HTTP request path is already in the form
// routes match on, so the gateway and the backend cannot read it
// differently: absolute, without empty or dot segments, and without an
// encoded slash or backslash. The others are refused, never rewritten.
func canonicalPath(path, escaped string) bool {
	if !strings.HasPrefix(path, "/") || strings.ContainsRune(path, '\\') {
		return false
	}
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return false
	}
	segs := strings.Split(path[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." || (s == "" && i != len(segs)-1) {
			return false
		}
	}
	return true
}
