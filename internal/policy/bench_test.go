package policy

import "testing"

func BenchmarkDecide(b *testing.B) {
	p := load(b, "shop.yaml")
	benches := []struct {
		name string
		r    Request
	}{
		{"connection", Request{Peer: id("spiffe://example.org/ns/monitoring/sa/prometheus"), Port: 9100}},
		{"request", Request{Peer: id(frontend), Port: 8080, HTTP: get("/api//orders/./7?x=1")}},
		{"deny", Request{Peer: id("spiffe://example.org/ns/web/sa/x"), Port: 8080}},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(bb.r)
			}
		})
	}
}
