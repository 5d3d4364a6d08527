package telemetry_test

import (
	"io"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/telemetry"
)

// BenchmarkHTTPRequest is the telemetry cost of one proxied request: its
// metrics and its JSON log line.
func BenchmarkHTTPRequest(b *testing.B) {
	log, err := telemetry.NewLogger(io.Discard, "json", "info")
	if err != nil {
		b.Fatal(err)
	}
	h := telemetry.NewHTTP(telemetry.NewRegistry(), log)
	peer := spiffeid.RequireFromString("spiffe://demo.local/ns/shop/sa/orders")
	r := l7.Request{Proto: "HTTP/1.1", Method: "GET", Path: "/api/items", Authority: "payments:8080", Status: 200, Rule: "orders", Duration: 300 * time.Microsecond, RespBytes: 1024}
	record := h.Flow(proxy.Inbound, peer)
	b.ReportAllocs()
	for b.Loop() {
		record(r)
	}
}
