package tlsconf

import (
	"slices"
	"testing"
)

func TestHints(t *testing.T) {
	for _, p := range []string{"http1", "http2", "tls", "tcp"} {
		alpn := HintProtocol(p)
		if got := Hint(alpn); got != p {
			t.Errorf("Hint(HintProtocol(%q)) = %q", p, got)
		}
		if !slices.Contains(MeshProtocols(), alpn) {
			t.Errorf("a mesh server would not accept %q", alpn)
		}
		if !IsMesh([]string{"h2", alpn}) {
			t.Errorf("IsMesh misses %q", alpn)
		}
	}
	if HintProtocol("") != "hopseal/1-tcp" {
		t.Errorf("empty protocol hint = %q", HintProtocol(""))
	}
	for _, bad := range []string{"hopseal/1", "hopseal/1-smtp", "h2", "", "hopseal/1-"} {
		if got := Hint(bad); got != "" {
			t.Errorf("Hint(%q) = %q, want none", bad, got)
		}
	}
	if IsMesh([]string{"h2", "http/1.1"}) || IsMesh(nil) || !IsMesh([]string{NextProto}) {
		t.Error("IsMesh misjudges plain ALPN lists")
	}
	// The generic protocol stays last, so a hinting client is never answered
	// with it while a hint matches.
	if m := MeshProtocols(); m[len(m)-1] != NextProto {
		t.Errorf("MeshProtocols = %v", m)
	}
}
