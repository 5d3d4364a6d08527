package sniff_test

import (
	"crypto/tls"
	"errors"
	"reflect"
	"testing"

	"github.com/hopseal/hopseal/internal/sniff"
)

// seedHellos are real and hand-built ClientHellos for the fuzzers' corpus.
func seedHellos(f *testing.F) [][]byte {
	return [][]byte{
		captureHello(f, &tls.Config{ServerName: "seed.example", NextProtos: []string{"h2", "http/1.1"}}),
		captureHello(f, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}),
		baseline().bytes(),
	}
}

func FuzzParseClientHello(f *testing.F) {
	for _, b := range seedHellos(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := sniff.ParseClientHello(b)
		if err != nil {
			if h != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		// Bytes after a complete ClientHello never change it.
		h2, err := sniff.ParseClientHello(append(b[:len(b):len(b)], 22, 3, 3, 0, 1, 0))
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("with bytes appended: %+v, %v; before: %+v", h2, err, h)
		}
		r, more := sniff.Classify(b)
		if more || r.Protocol != sniff.TLS || r.SNI != h.ServerName || !reflect.DeepEqual(r.ALPN, h.ALPN) {
			t.Fatalf("Classify = %+v more=%v for a ClientHello %+v", r, more, h)
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, b := range seedHellos(f) {
		f.Add(b, uint16(len(b)/2))
	}
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n", sniff.HTTP2Preface, "PRI * HTTP/2.0\r\n\r\nSX", "SSH-2.0-x\r\n", "POST /x HTTP/1.0\n",
	} {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		k := int(cut) % (len(b) + 1)
		r1, more := sniff.Classify(b[:k])
		r2, _ := sniff.Classify(b)
		if !more && !reflect.DeepEqual(r1, r2) {
			t.Fatalf("Classify(%q) = %+v final, but with more bytes %q it is %+v", b[:k], r1, b[k:], r2)
		}
		if r1.Protocol != sniff.TLS && r1.Protocol != sniff.HTTP1 && r1.Protocol != sniff.HTTP2 && r1.Protocol != sniff.Opaque {
			t.Fatalf("unknown protocol %q", r1.Protocol)
		}
		if _, err := sniff.ParseClientHello(b[:k]); more && r1.Protocol == sniff.TLS && !errors.Is(err, sniff.ErrIncomplete) {
			t.Fatalf("TLS guess with more=true, but ParseClientHello says %v", err)
		}
	})
}
