package sniff_test

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/sniff"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in     string
		proto  sniff.Protocol
		method string
		more   bool
	}{
		{in: "", proto: sniff.Opaque, more: true},
		{in: "G", proto: sniff.Opaque, more: true},
		{in: "GET", proto: sniff.Opaque, more: true},
		// Until the target is followed by the version, it is no request
		// line yet: "plaintext egress" then silence must stay opaque.
		{in: "GET ", proto: sniff.Opaque, more: true},
		{in: "GET /index.html", proto: sniff.Opaque, more: true},
		{in: "plaintext egress", proto: sniff.Opaque, more: true},
		{in: "GET /index.html H", proto: sniff.HTTP1, method: "GET", more: true},
		{in: "GET /index.html HTTP/1.", proto: sniff.HTTP1, method: "GET", more: true},
		{in: "GET /index.html HTTP/1.1\r", proto: sniff.HTTP1, method: "GET", more: true},
		{in: "GET /index.html HTTP/1.1\r\n", proto: sniff.HTTP1, method: "GET"},
		{in: "POST /upload HTTP/1.0\r\nHost: x\r\n\r\n", proto: sniff.HTTP1, method: "POST"},
		{in: "get /lower HTTP/1.1\r\n", proto: sniff.HTTP1, method: "get"},
		{in: "PURGE /cache HTTP/1.1\r\n", proto: sniff.HTTP1, method: "PURGE"},
		// Lenient: servers may accept these, so the strict HTTP proxy must see them.
		{in: "GET /bare-lf HTTP/1.1\n", proto: sniff.HTTP1, method: "GET"},
		{in: "GET /v2 HTTP/2.0\r\n", proto: sniff.HTTP1, method: "GET"},
		{in: "GET /\x80\x01 HTTP/1.1\r\n", proto: sniff.HTTP1, method: "GET"},
		{in: "P", proto: sniff.Opaque, more: true},
		{in: "PRI * HTTP/2.0\r\n", proto: sniff.HTTP1, method: "PRI", more: true},
		{in: sniff.HTTP2Preface, proto: sniff.HTTP2},
		{in: sniff.HTTP2Preface + "\x00\x00\x12\x04", proto: sniff.HTTP2},
		{in: "PRI * HTTP/2.0\r\n\r\nXX", proto: sniff.HTTP1, method: "PRI"},
		{in: "GET /x HTTP/1.1 extra\r\n", proto: sniff.Opaque},
		{in: "GET  / HTTP/1.1\r\n", proto: sniff.Opaque},
		{in: "GET /\r\n", proto: sniff.Opaque}, // HTTP/0.9
		{in: "GET / HTTX/1.1\r\n", proto: sniff.Opaque},
		{in: "GET / HTTP/\r\n", proto: sniff.Opaque},
		{in: "SSH-2.0-OpenSSH_9.2\r\n", proto: sniff.Opaque},
		{in: "*1\r\n$4\r\nPING\r\n", proto: sniff.Opaque},
		{in: "\x00\x00\x00\x08\x04\xd2\x16\x2f", proto: sniff.Opaque}, // PostgreSQL SSLRequest
		{in: strings.Repeat("A", 33) + " / HTTP/1.1\r\n", proto: sniff.Opaque},
		{in: "\x16", proto: sniff.TLS, more: true},
		{in: "\x16\x03\x01\x02\x00\x01", proto: sniff.TLS, more: true},
		{in: "\x16\x03\x01\x00\x00", proto: sniff.Opaque},
		{in: "\x16\x02", proto: sniff.Opaque},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, more := sniff.Classify([]byte(tc.in))
			want := sniff.Result{Protocol: tc.proto, Method: tc.method}
			if !reflect.DeepEqual(r, want) || more != tc.more {
				t.Errorf("Classify(%q) = %+v more=%v, want %+v more=%v", tc.in, r, more, want, tc.more)
			}
		})
	}
}

// checkFinal asserts Classify's contract on b: once an answer is final,
// no longer input changes it.
func checkFinal(t *testing.T, b []byte) {
	t.Helper()
	var final *sniff.Result
	for n := 0; n <= len(b); n++ {
		r, more := sniff.Classify(b[:n])
		if final != nil && !reflect.DeepEqual(r, *final) {
			t.Fatalf("Classify(%q) = %+v after a final %+v at a shorter prefix", b[:n], r, *final)
		}
		if final == nil && !more {
			final = &r
		}
	}
}

func TestClassifyIsFinal(t *testing.T) {
	for _, s := range []string{
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", sniff.HTTP2Preface + "more", "SSH-2.0-x\r\n", "PRI * HTTP/2.0\r\n\r\nSX",
	} {
		checkFinal(t, []byte(s))
	}
	checkFinal(t, append(captureHello(t, &tls.Config{ServerName: "final.example"}), "trailing"...))
}
