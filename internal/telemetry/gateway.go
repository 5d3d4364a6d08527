package telemetry

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// GatewayMetrics counts the gateway's connections and HTTP requests; it
// implements gateway.Events.
type GatewayMetrics struct {
	conns    *prometheus.CounterVec
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewGatewayMetrics registers the gateway's metrics on r.
func NewGatewayMetrics(r prometheus.Registerer) *GatewayMetrics {
	m := &GatewayMetrics{
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopseal_gateway_connections_total",
			Help: "Client connections, by listener, route (hostname), mode and result (ok, unknown_sni, no_sni, bad_client_hello, proxy_protocol_error, client_cert_rejected, handshake_error, backend_error).",
		}, []string{"listener", "route", "mode", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopseal_gateway_requests_total",
			Help: "HTTP requests answered on terminate and reencrypt routes and by redirect listeners, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hopseal_gateway_request_duration_seconds",
			Help:    "HTTP request latency through the gateway, from the request head to the end of the response, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	r.MustRegister(m.conns, m.requests, m.latency)
	return m
}

func (m *GatewayMetrics) Connection(listener, route, mode, result string) {
	m.conns.WithLabelValues(listener, route, mode, result).Inc()
}

func (m *GatewayMetrics) Request(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// GatewayCert is a public certificate a gateway route serves.
type GatewayCert struct {
	Listener, Route string
	NotAfter        time.Time
}

// RegisterGatewayCertExpiry exports the seconds until each route's
// certificate expires, read from certs at every scrape, so a reloaded or
// renewed certificate shows at once.
func RegisterGatewayCertExpiry(r prometheus.Registerer, certs func() []GatewayCert, now func() time.Time) {
	r.MustRegister(&certExpiry{certs: certs, now: now, desc: prometheus.NewDesc(
		"hopseal_gateway_certificate_expiry_seconds",
		"Seconds until a gateway route's public certificate expires (negative once expired), by listener and route.",
		[]string{"listener", "route"}, nil)})
}

type certExpiry struct {
	certs func() []GatewayCert
	now   func() time.Time
	desc  *prometheus.Desc
}

func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	seen := map[[2]string]bool{}
	for _, gc := range c.certs() {
		key := [2]string{gc.Listener, gc.Route}
		if seen[key] {
			continue // one series per route: its leaf
		}
		seen[key] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, gc.NotAfter.Sub(now).Seconds(), gc.Listener, gc.Route)
	}
}
