package sniff_test

import (
	"crypto/tls"
	"testing"

	"github.com/hopseal/hopseal/internal/sniff"
)

// Classify runs once per connection, on a few hundred bytes to 2 KB.
func BenchmarkClassify(b *testing.B) {
	for _, in := range []struct {
		name string
		b    []byte
	}{
		{"ClientHello", captureHello(b, &tls.Config{ServerName: "bench.example", NextProtos: []string{"h2", "http/1.1"}})},
		{"HTTP1", []byte("GET /orders/42?expand=items HTTP/1.1\r\nHost: orders\r\n\r\n")},
		{"HTTP2", []byte(sniff.HTTP2Preface)},
	} {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.b)))
			b.ReportAllocs()
			for range b.N {
				if _, more := sniff.Classify(in.b); more {
					b.Fatal("undecided")
				}
			}
		})
	}
}
