package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/proxy"
)

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// ProxyMetrics counts flows; it is a proxy.Observer.
type ProxyMetrics struct {
	conns     *prometheus.CounterVec
	open      *prometheus.GaugeVec
	bytes     *prometheus.CounterVec
	handshake *prometheus.HistogramVec
}

// NewProxyMetrics registers the proxy's metrics on r.
func NewProxyMetrics(r prometheus.Registerer) *ProxyMetrics {
	m := &ProxyMetrics{
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopseal_proxy_connections_total",
			Help: "Connections handled, by direction, decision, peer SPIFFE ID, TLS version, security (mutual_tls, tls, none) and app protocol.",
		}, []string{"direction", "decision", "peer_id", "tls_version", "security", "protocol"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hopseal_proxy_connections_open",
			Help: "Connections being relayed now.",
		}, []string{"direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopseal_proxy_bytes_total",
			Help: "Bytes relayed, by direction, peer SPIFFE ID, security and stream (up: client to upstream; down: back).",
		}, []string{"direction", "peer_id", "security", "stream"}),
		handshake: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hopseal_proxy_handshake_duration_seconds",
			Help:    "Mesh mTLS handshake latency, by direction.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"direction"}),
	}
	r.MustRegister(m.conns, m.open, m.bytes, m.handshake)
	return m
}

func (m *ProxyMetrics) FlowStarted(f proxy.Flow) {
	m.open.WithLabelValues(string(f.Direction)).Inc()
}

func (m *ProxyMetrics) FlowEnded(f proxy.Flow) {
	if f.Decision == proxy.Allow {
		m.open.WithLabelValues(string(f.Direction)).Dec()
	}
	if f.Handshake > 0 {
		m.handshake.WithLabelValues(string(f.Direction)).Observe(f.Handshake.Seconds())
	}
	peer, sec := idString(f.Peer), string(f.Security)
	m.conns.WithLabelValues(string(f.Direction), string(f.Decision), peer, f.Peer.TLS.Version, sec, f.Protocol).Inc()
	m.bytes.WithLabelValues(string(f.Direction), peer, sec, "up").Add(float64(f.BytesUp))
	m.bytes.WithLabelValues(string(f.Direction), peer, sec, "down").Add(float64(f.BytesDown))
}

// RegisterSVIDExpiry exports the seconds until the current SVID expires.
func RegisterSVIDExpiry(r prometheus.Registerer, notAfter func() (time.Time, bool), now func() time.Time) {
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hopseal_svid_expiry_seconds",
		Help: "Seconds until the workload's X.509-SVID expires (negative once expired).",
	}, func() float64 {
		t, ok := notAfter()
		if !ok {
			return 0
		}
		return t.Sub(now()).Seconds()
	}))
}

// CAMetrics counts issuance outcomes; it implements ca.Events.
type CAMetrics struct {
	issued  *prometheus.CounterVec
	refused *prometheus.CounterVec
}

// NewCAMetrics registers the CA's metrics on r.
func NewCAMetrics(r prometheus.Registerer) *CAMetrics {
	m := &CAMetrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopseal_ca_svids_issued_total", Help: "X.509-SVIDs issued, by attestation type.",
		}, []string{"attestation"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hopseal_ca_requests_refused_total", Help: "SVID requests refused, by attestation type and reason.",
		}, []string{"attestation", "reason"}),
	}
	r.MustRegister(m.issued, m.refused)
	return m
}

func (m *CAMetrics) Issued(_ spiffeid.ID, attestation string) {
	m.issued.WithLabelValues(attestation).Inc()
}

func (m *CAMetrics) Denied(attestation, reason string) {
	m.refused.WithLabelValues(attestation, reason).Inc()
}
