package telemetry

import (
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/proxy"
)

// HTTP logs and counts the requests the proxy saw inside its flows.
type HTTP struct {
	log      *slog.Logger
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewHTTP registers the HTTP metrics on r.
func NewHTTP(r prometheus.Registerer, log *slog.Logger) *HTTP {
	h := &HTTP{
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopseal_http_requests_total",
			Help: "HTTP requests, by direction, peer SPIFFE ID, method, status code and decision.",
		}, []string{"direction", "peer_id", "method", "code", "decision"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hopseal_http_request_duration_seconds",
			Help:    "HTTP request latency through the proxy, from the request head to the end of the response.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"direction"}),
	}
	r.MustRegister(h.requests, h.latency)
	return h
}

// Request records one finished HTTP exchange.
func (h *HTTP) Request(dir proxy.Direction, peer spiffeid.ID, r l7.Request) {
	h.Flow(dir, peer)(r)
}

// Flow returns the recorder of one flow's exchanges. What stays the same
// for all of them is worked out once: the peer's ID as text, the latency
// histogram, and the counter of the last label set, which busy connections
// repeat. It may be called from several goroutines at once.
func (h *HTTP) Flow(dir proxy.Direction, peer spiffeid.ID) func(l7.Request) {
	id := ""
	if !peer.IsZero() {
		id = peer.String()
	}
	latency := h.latency.WithLabelValues(string(dir))
	var last atomic.Pointer[requestCounter]
	return func(r l7.Request) {
		decision, level := proxy.Allow, slog.LevelInfo
		if r.Denied {
			decision, level = proxy.Deny, slog.LevelWarn
		}
		method := metricMethod(r.Method)
		c := last.Load()
		if c == nil || c.method != method || c.status != r.Status || c.decision != decision {
			c = &requestCounter{method: method, status: r.Status, decision: decision}
			c.counter = h.requests.WithLabelValues(string(dir), id, method, strconv.Itoa(r.Status), string(decision))
			last.Store(c)
		}
		c.counter.Inc()
		latency.Observe(r.Duration.Seconds())
		var buf [13]slog.Attr
		LogLine(h.log, level, "http request", requestAttrs(buf[:0], dir, id, decision, r))
	}
}

// requestCounter is a counter with the labels that chose it.
type requestCounter struct {
	method   string
	status   int
	decision proxy.Decision
	counter  prometheus.Counter
}

// requestAttrs appends the request's log attributes to attrs.
func requestAttrs(attrs []slog.Attr, dir proxy.Direction, id string, decision proxy.Decision, r l7.Request) []slog.Attr {
	attrs = append(attrs,
		slog.String("direction", string(dir)),
		slog.String("peer_id", id),
		slog.String("proto", r.Proto),
		slog.String("method", r.Method),
		slog.String("path", r.Path),
		slog.String("authority", r.Authority),
		slog.Int("status", r.Status),
		slog.String("decision", string(decision)),
		slog.Float64("duration_ms", float64(r.Duration.Microseconds())/1000),
		slog.Int64("request_bytes", r.ReqBytes),
		slog.Int64("response_bytes", r.RespBytes),
	)
	if r.Rule != "" {
		attrs = append(attrs, slog.String("rule", r.Rule))
	}
	if r.Reason != "" {
		attrs = append(attrs, slog.String("reason", r.Reason))
	}
	return attrs
}

// metricMethod keeps the label set bounded: unknown methods count as OTHER.
func metricMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE":
		return m
	}
	return "OTHER"
}
