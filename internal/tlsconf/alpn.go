package tlsconf

import "strings"

// A mesh client may tell the server what its app speaks, as detected on the
// client side, by offering "hopseal/1-<protocol>" before NextProto. The
// server uses the hint to skip detecting it again; policy enforcement never
// depends on it.
const hintPrefix = NextProto + "-"

// hintedProtocols are the app protocols a hint may name.
var hintedProtocols = []string{"http1", "http2", "tls", "tcp"}

// MeshProtocols is what a mesh server accepts, hints first.
func MeshProtocols() []string {
	out := make([]string, 0, len(hintedProtocols)+1)
	for _, p := range hintedProtocols {
		out = append(out, hintPrefix+p)
	}
	return append(out, NextProto)
}

// HintProtocol is the ALPN a client offers for an app protocol.
func HintProtocol(protocol string) string {
	if protocol == "" {
		protocol = "tcp"
	}
	return hintPrefix + protocol
}

// Hint is the app protocol a negotiated ALPN names, or "" for none.
func Hint(negotiated string) string {
	p, ok := strings.CutPrefix(negotiated, hintPrefix)
	if !ok {
		return ""
	}
	for _, h := range hintedProtocols {
		if p == h {
			return p
		}
	}
	return ""
}

// IsMesh reports whether a ClientHello's ALPN list comes from a mesh client.
func IsMesh(alpn []string) bool {
	for _, p := range alpn {
		if p == NextProto || strings.HasPrefix(p, hintPrefix) {
			return true
		}
	}
	return false
}
