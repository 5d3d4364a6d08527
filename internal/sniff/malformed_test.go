package sniff_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hopseal/hopseal/internal/sniff"
)

// helloSpec builds a ClientHello; the zero changes give a valid TLS 1.3 one
// with SNI "ok.example" and ALPN "h2".
type helloSpec struct {
	recType, recMinor, hsType byte
	sessionID, suites, comp   []byte
	exts                      [][]byte
	trailer                   []byte // after the extensions block, inside the message
	noExts                    bool
}

func baseline() helloSpec {
	return helloSpec{
		recType: 22, recMinor: 1, hsType: 1,
		suites: []byte{0x13, 0x01}, comp: []byte{0},
		exts: [][]byte{
			ext(0, vec16(append([]byte{0}, vec16([]byte("ok.example"))...))),
			ext(16, vec16(vec8([]byte("h2")))),
			ext(43, vec8([]byte{3, 4})),
			ext(10, vec16([]byte{0, 0x1d})),
			ext(51, vec16(append([]byte{0, 0x1d}, vec16(make([]byte, 32))...))),
		},
	}
}

func (s helloSpec) bytes() []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, vec8(s.sessionID)...)
	body = append(body, vec16(s.suites)...)
	body = append(body, vec8(s.comp)...)
	if !s.noExts {
		body = append(body, vec16(bytes.Join(s.exts, nil))...)
	}
	body = append(body, s.trailer...)
	msg := append([]byte{s.hsType, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{s.recType, 3, s.recMinor, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

func ext(typ uint16, data []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ)}, vec16(data)...)
}
func vec8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }
func vec16(b []byte) []byte { return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...) }

func TestParseClientHelloMalformed(t *testing.T) {
	tests := []struct {
		name   string
		change func(*helloSpec)
		raw    func([]byte) []byte // a change to the encoded bytes
		ok     bool
		sni    string
	}{
		{name: "baseline", ok: true, sni: "ok.example"},
		{name: "no extensions (TLS 1.2 style)", change: func(s *helloSpec) { s.noExts = true }, ok: true},
		{name: "unknown extension ignored", change: func(s *helloSpec) { s.exts = append(s.exts, ext(0xfafa, nil)) }, ok: true, sni: "ok.example"},
		{name: "only a non-host server name", change: func(s *helloSpec) {
			s.exts[0] = ext(0, vec16(append([]byte{7}, vec16([]byte("x"))...)))
		}, ok: true},
		{name: "record type application data", change: func(s *helloSpec) { s.recType = 23 }},
		{name: "record version 3.5", change: func(s *helloSpec) { s.recMinor = 5 }},
		{name: "record version major 2", raw: func(b []byte) []byte { b[1] = 2; return b }},
		{name: "record length over 16 KiB", raw: func(b []byte) []byte { b[3], b[4] = 0x40, 0x01; return b }},
		{name: "empty record", raw: func(b []byte) []byte { return append([]byte{22, 3, 1, 0, 0}, b...) }},
		{name: "ServerHello", change: func(s *helloSpec) { s.hsType = 2 }},
		{name: "session ID of 33 bytes", change: func(s *helloSpec) { s.sessionID = make([]byte, 33) }},
		{name: "odd cipher suites", change: func(s *helloSpec) { s.suites = []byte{0x13, 0x01, 0x13} }},
		{name: "no cipher suites", change: func(s *helloSpec) { s.suites = nil }},
		{name: "no compression methods", change: func(s *helloSpec) { s.comp = nil }},
		{name: "byte after the extensions", change: func(s *helloSpec) { s.trailer = []byte{0} }},
		{name: "extension longer than the block", change: func(s *helloSpec) { s.exts = append(s.exts, []byte{0, 99, 0, 9}) }},
		{name: "repeated extension", change: func(s *helloSpec) { s.exts = append(s.exts, s.exts[1]) }},
		{name: "SNI with a space", change: func(s *helloSpec) {
			s.exts[0] = ext(0, vec16(append([]byte{0}, vec16([]byte("a b"))...)))
		}},
		{name: "SNI with a trailing dot", change: func(s *helloSpec) {
			s.exts[0] = ext(0, vec16(append([]byte{0}, vec16([]byte("ok.example."))...)))
		}},
		{name: "empty SNI list", change: func(s *helloSpec) { s.exts[0] = ext(0, vec16(nil)) }},
		{name: "empty ALPN name", change: func(s *helloSpec) { s.exts[1] = ext(16, vec16(vec8(nil))) }},
		{name: "odd supported_versions", change: func(s *helloSpec) { s.exts[2] = ext(43, vec8([]byte{3, 4, 3})) }},
		{name: "key share without a key", change: func(s *helloSpec) { s.exts[4] = ext(51, vec16([]byte{0, 0x1d, 0, 0})) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseline()
			if tc.change != nil {
				tc.change(&s)
			}
			b := s.bytes()
			if tc.raw != nil {
				b = tc.raw(b)
			}
			h, err := sniff.ParseClientHello(b)
			r, more := sniff.Classify(b)
			if !tc.ok {
				if err == nil || errors.Is(err, sniff.ErrIncomplete) {
					t.Fatalf("err = %v, want a parse error", err)
				}
				if more || r.Protocol != sniff.Opaque {
					t.Errorf("Classify = %+v more=%v, want final opaque", r, more)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerName != tc.sni {
				t.Errorf("SNI %q, want %q", h.ServerName, tc.sni)
			}
			if more || r.Protocol != sniff.TLS || r.SNI != tc.sni {
				t.Errorf("Classify = %+v more=%v", r, more)
			}
		})
	}
}
