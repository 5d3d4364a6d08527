package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGatewayMetrics(t *testing.T) {
	r := prometheus.NewRegistry()
	m := NewGatewayMetrics(r)
	m.Connection("https", "shop.example.com", "terminate", "ok")
	m.Connection("https", "", "", "unknown_sni")
	m.Connection("https", "", "", "unknown_sni")
	m.Request("shop.example.com", 502, 30*time.Millisecond)
	if got := testutil.ToFloat64(m.conns.WithLabelValues("https", "", "", "unknown_sni")); got != 2 {
		t.Errorf("unknown_sni = %v", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("shop.example.com", "502")); got != 1 {
		t.Errorf("502s = %v", got)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("%d latency series", n)
	}
}

// One series per route, read at scrape time, negative once expired.
func TestGatewayCertExpiry(t *testing.T) {
	r := prometheus.NewRegistry()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	certs := []GatewayCert{
		{Listener: "https", Route: "shop.example.com", NotAfter: now.Add(time.Hour)},
		{Listener: "https", Route: "shop.example.com", NotAfter: now.Add(2 * time.Hour)}, // an issuer: not a second series
		{Listener: "https", Route: "old.example.com", NotAfter: now.Add(-time.Minute)},
	}
	RegisterGatewayCertExpiry(r, func() []GatewayCert { return certs }, func() time.Time { return now })
	want := `# HELP hopseal_gateway_certificate_expiry_seconds Seconds until a gateway route's public certificate expires (negative once expired), by listener and route.
# TYPE hopseal_gateway_certificate_expiry_seconds gauge
hopseal_gateway_certificate_expiry_seconds{listener="https",route="old.example.com"} -60
hopseal_gateway_certificate_expiry_seconds{listener="https",route="shop.example.com"} 3600
`
	if err := testutil.GatherAndCompare(r, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
