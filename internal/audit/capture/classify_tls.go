package capture

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hopseal/hopseal/internal/sniff"
	"github.com/hopseal/hopseal/internal/tlsconf"
	"github.com/hopseal/hopseal/internal/wire"
)

// TLSInfo is what a TLS handshake shows in the clear.
type TLSInfo struct {
	Version       string   `json:"version,omitempty"`        // negotiated: "TLS 1.3"
	RecordVersion string   `json:"record_version,omitempty"` // of the client's first record
	CipherSuite   string   `json:"cipher_suite,omitempty"`
	Group         string   `json:"group,omitempty"` // key exchange: "X25519MLKEM768"
	SNI           string   `json:"sni,omitempty"`
	ALPN          string   `json:"alpn,omitempty"` // selected by the server (TLS 1.2: TLS 1.3 encrypts it)
	ALPNOffered   []string `json:"alpn_offered,omitempty"`
	// ClientCert says whether the server asked for a client certificate:
	// "requested", "not requested", or "not visible" (TLS 1.3 encrypts it).
	ClientCert string   `json:"client_cert,omitempty"`
	Alert      string   `json:"alert,omitempty"` // a clear-text alert from the server
	Weak       []string `json:"weak,omitempty"`  // why the parameters fall short
}

const (
	certRequested    = "requested"
	certNotRequested = "not requested"
	certNotVisible   = "not visible"
)

func detectTLS(c, s []byte, info *connInfo) (Verdict, state) {
	if len(c) == 0 || c[0] != 22 {
		return Verdict{}, notThis
	}
	return tlsVerdict(c, s, info)
}

// tlsVerdict reads a TLS handshake: c starts with the ClientHello, s with
// the server's flight.
func tlsVerdict(c, s []byte, info *connInfo) (Verdict, state) {
	hello, err := sniff.ParseClientHello(c)
	incomplete := errors.Is(err, sniff.ErrIncomplete)
	if err != nil && !incomplete {
		return Verdict{}, notThis
	}
	t := &TLSInfo{}
	if len(c) >= 3 {
		t.RecordVersion = tls.VersionName(uint16(c[1])<<8 | uint16(c[2]))
	}
	v := Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: t}
	mesh := info.meshPort
	if hello != nil {
		t.SNI, t.ALPNOffered = hello.ServerName, hello.ALPN
		mesh = mesh || tlsconf.IsMesh(hello.ALPN)
	}
	flight, serr := sniff.ParseServerFlight(s)
	st := yesMore
	switch {
	case serr != nil:
		v.Notes = append(v.Notes, "the server's answer is not TLS: "+serr.Error())
		st = yesDone
	case flight.Complete:
		st = yesDone
	}
	if flight != nil && flight.Hello != nil {
		serverHello(t, flight)
		mesh = mesh || t.ALPN == tlsconf.NextProto || tlsconf.Hint(t.ALPN) != ""
	} else if len(s) == 0 {
		v.Notes = append(v.Notes, "no answer from the server in the capture")
	}
	if flight != nil && flight.Alert != nil {
		t.Alert = alertName(flight.Alert)
	}
	if incomplete {
		// More client bytes may still show this is no ClientHello.
		v.Notes = append(v.Notes, "the ClientHello is cut short in the capture")
		st = yesMore
	}
	if mesh {
		v.Protocol = ProtoMesh
		if t.ClientCert == certNotVisible {
			t.ClientCert = "required (hopseal's servers always require one; TLS 1.3 encrypts the request)"
		}
	}
	t.Weak = weakness(t, flight)
	return v, st
}

func serverHello(t *TLSInfo, f *sniff.ServerFlight) {
	h := f.Hello
	t.Version = tls.VersionName(h.Negotiated())
	t.CipherSuite = suiteName(h.CipherSuite)
	t.ALPN = h.ALPN
	switch {
	case h.Negotiated() >= tls.VersionTLS13:
		t.Group = groupName(h.KeyShare)
		t.ClientCert = certNotVisible
	case f.Group != 0:
		t.Group = groupName(f.Group)
	}
	if h.Negotiated() < tls.VersionTLS13 && f.Complete && f.Alert == nil {
		t.ClientCert = certNotRequested
		if f.CertificateRequested() {
			t.ClientCert = certRequested
		}
	}
}

// weakness lists why the negotiated parameters fall short of TLS 1.2+
// with forward-secret, authenticated encryption.
func weakness(t *TLSInfo, f *sniff.ServerFlight) []string {
	if f == nil || f.Hello == nil {
		return nil
	}
	var out []string
	if v := f.Hello.Negotiated(); v < tls.VersionTLS12 {
		out = append(out, t.Version+" is deprecated (RFC 8996): use TLS 1.2 or 1.3")
	}
	id := f.Hello.CipherSuite
	name := t.CipherSuite
	if insecureSuite(id) || strings.Contains(name, "NULL") || strings.Contains(name, "EXPORT") ||
		strings.Contains(name, "anon") || strings.Contains(name, "RC4") || strings.Contains(name, "DES") ||
		strings.HasSuffix(name, "_MD5") {
		out = append(out, "cipher suite "+name+" is insecure")
	}
	if strings.HasPrefix(name, "TLS_RSA_") {
		out = append(out, "cipher suite "+name+" uses static RSA key exchange: no forward secrecy")
	}
	return out
}

func insecureSuite(id uint16) bool {
	return slices.ContainsFunc(tls.InsecureCipherSuites(), func(s *tls.CipherSuite) bool { return s.ID == id })
}

// extraSuites names suites crypto/tls does not implement but servers pick.
var extraSuites = map[uint16]string{
	0x0000: "TLS_NULL_WITH_NULL_NULL", 0x0001: "TLS_RSA_WITH_NULL_MD5", 0x0002: "TLS_RSA_WITH_NULL_SHA",
	0x0003: "TLS_RSA_EXPORT_WITH_RC4_40_MD5", 0x0004: "TLS_RSA_WITH_RC4_128_MD5", 0x0008: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
	0x0009: "TLS_RSA_WITH_DES_CBC_SHA", 0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", 0x0018: "TLS_DH_anon_WITH_RC4_128_MD5",
	0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0034: "TLS_DH_anon_WITH_AES_128_CBC_SHA", 0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
	0x003b: "TLS_RSA_WITH_NULL_SHA256", 0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 0x006b: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
	0x009d: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009e: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009f: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
	0xc024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", 0xc028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
	0xccaa: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256", 0x1305: "TLS_AES_128_CCM_8_SHA256",
}

func suiteName(id uint16) string {
	if n, ok := extraSuites[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}

var groupNames = map[uint16]string{
	0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001d: "X25519", 0x001e: "X448",
	0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096", 0x11eb: "SecP256r1MLKEM768",
	0x11ec: "X25519MLKEM768", 0x11ed: "SecP384r1MLKEM1024", 0x6399: "X25519Kyber768Draft00",
}

func groupName(id uint16) string {
	if n, ok := groupNames[id]; ok {
		return n
	}
	return fmt.Sprintf("0x%04x", id)
}

var alertNames = map[byte]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure", 42: "bad_certificate",
	43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
	47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error", 51: "decrypt_error",
	70: "protocol_version", 71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
	90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
	116: "certificate_required", 120: "no_application_protocol",
}

func alertName(a []byte) string {
	level := "warning"
	if a[0] == 2 {
		level = "fatal"
	}
	name, ok := alertNames[a[1]]
	if !ok {
		name = "alert"
	}
	return fmt.Sprintf("%s %s (%d)", level, name, a[1])
}

// detectMidstreamTLS recognises a connection whose start the capture
// missed by its TLS record framing.
func detectMidstreamTLS(c, s []byte, info *connInfo) (Verdict, state) {
	if info.handshake {
		return Verdict{}, notThis
	}
	seen := false
	for _, b := range [][]byte{c, s} {
		if len(b) == 0 {
			continue
		}
		if !tlsFramed(b) {
			return Verdict{}, notThis
		}
		seen = true
	}
	if !seen {
		return Verdict{}, notThis
	}
	v := Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: &TLSInfo{},
		Notes: []string{"the handshake is not in the capture: TLS recognised by its record framing; version and cipher unknown"}}
	if info.meshPort {
		v.Protocol = ProtoMesh
	}
	return v, yesMore
}

// tlsFramed reports whether b is TLS records from its start, or holds two
// whole records back to back within its first record's length (a capture
// may start mid-record).
func tlsFramed(b []byte) bool {
	if r, err := wire.ParseTLSRecords(b); err == nil && (r.Count > 0 || r.Truncated) {
		return true
	}
	for off := 0; off < len(b) && off <= 1<<14+256; off++ {
		i := bytes.IndexByte(b[off:], 23)
		if i < 0 {
			return false
		}
		off += i
		if r, _ := wire.ParseTLSRecords(b[off:]); r.Count >= 2 {
			return true
		}
	}
	return false
}
