package sniff_test

import (
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/sniff"
	"github.com/hopseal/hopseal/internal/testenv"
)

// captureHello returns the first flight a crypto/tls client with cfg sends
// over a real socket: its ClientHello records.
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tls.Client(c, cfg).Handshake() // fails once the server side closes
		errc <- nil
	}()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b := readHello(t, s)
	s.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return b
}

// readHello reads from c until its bytes hold a whole ClientHello.
func readHello(t testing.TB, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if _, perr := sniff.ParseClientHello(b); !errors.Is(perr, sniff.ErrIncomplete) {
			if perr != nil {
				t.Fatalf("client sent a ClientHello that does not parse: %v", perr)
			}
			return b
		}
		if err != nil {
			t.Fatalf("read ClientHello: %v (have %d bytes)", err, len(b))
		}
	}
}

func TestParseClientHelloFromCryptoTLS(t *testing.T) {
	const (
		x25519MLKEM768 = 0x11ec
		x25519         = 0x001d
	)
	tests := []struct {
		name       string
		cfg        *tls.Config
		sni        string
		alpn       []string
		versions   bool   // supported_versions sent (TLS 1.3 offered)
		keyShare   uint16 // a group that must have a key share
		noKeyShare bool
	}{
		{name: "defaults with SNI", cfg: &tls.Config{ServerName: "api.example.com"}, sni: "api.example.com", versions: true, keyShare: x25519MLKEM768},
		{name: "no SNI", cfg: &tls.Config{InsecureSkipVerify: true}, versions: true, keyShare: x25519MLKEM768},
		{name: "ALPN", cfg: &tls.Config{ServerName: "a.b", NextProtos: []string{"h2", "http/1.1"}}, sni: "a.b", alpn: []string{"h2", "http/1.1"}, versions: true, keyShare: x25519MLKEM768},
		{name: "hopseal mesh ALPN", cfg: &tls.Config{ServerName: "x", NextProtos: []string{"hopseal/1"}}, sni: "x", alpn: []string{"hopseal/1"}, versions: true, keyShare: x25519MLKEM768},
		{name: "X25519 only", cfg: &tls.Config{ServerName: "x", CurvePreferences: []tls.CurveID{tls.X25519}}, sni: "x", versions: true, keyShare: x25519},
		{name: "TLS 1.2 only", cfg: &tls.Config{ServerName: "old.example", MaxVersion: tls.VersionTLS12}, sni: "old.example", noKeyShare: true},
		{name: "IP address: no SNI", cfg: &tls.Config{ServerName: "127.0.0.1"}, versions: true, keyShare: x25519MLKEM768},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := captureHello(t, tc.cfg)
			h, err := sniff.ParseClientHello(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.ServerName != tc.sni || !slices.Equal(h.ALPN, tc.alpn) {
				t.Errorf("SNI %q ALPN %q, want %q %q", h.ServerName, h.ALPN, tc.sni, tc.alpn)
			}
			if h.Version != tls.VersionTLS12 {
				t.Errorf("legacy version %#x, want %#x", h.Version, tls.VersionTLS12)
			}
			if got := slices.Contains(h.SupportedVersions, tls.VersionTLS13); got != tc.versions {
				t.Errorf("supported_versions %x: TLS 1.3 offered = %v, want %v", h.SupportedVersions, got, tc.versions)
			}
			if tc.noKeyShare && len(h.KeyShares) != 0 || !tc.noKeyShare && !slices.Contains(h.KeyShares, tc.keyShare) {
				t.Errorf("key shares %x, want %#x (none: %v)", h.KeyShares, tc.keyShare, tc.noKeyShare)
			}
			if len(h.CipherSuites) == 0 || len(h.SupportedGroups) == 0 {
				t.Errorf("cipher suites %x, groups %x: want both", h.CipherSuites, h.SupportedGroups)
			}
			r, more := sniff.Classify(b)
			if more || r.Protocol != sniff.TLS || r.SNI != tc.sni || !slices.Equal(r.ALPN, tc.alpn) {
				t.Errorf("Classify = %+v more=%v", r, more)
			}
		})
	}
}

// Every strict prefix of a real ClientHello is incomplete, never an error,
// and classified as probably TLS.
func TestParseClientHelloPrefixes(t *testing.T) {
	b := captureHello(t, &tls.Config{ServerName: "prefix.example", NextProtos: []string{"h2"}})
	for n := range len(b) {
		if _, err := sniff.ParseClientHello(b[:n]); !errors.Is(err, sniff.ErrIncomplete) {
			t.Fatalf("prefix of %d/%d bytes: err %v, want ErrIncomplete", n, len(b), err)
		}
		if r, more := sniff.Classify(b[:n]); !more || n > 0 && r.Protocol != sniff.TLS {
			t.Fatalf("prefix of %d/%d bytes: Classify = %+v more=%v", n, len(b), r, more)
		}
	}
}

// A ClientHello split over many small records parses the same.
func TestParseClientHelloAcrossRecords(t *testing.T) {
	b := captureHello(t, &tls.Config{ServerName: "split.example", NextProtos: []string{"h2"}})
	msg := b[5:] // one record: the whole message
	var split []byte
	for chunk := range slices.Chunk(msg, 100) {
		split = append(split, 22, 3, 1, byte(len(chunk)>>8), byte(len(chunk)))
		split = append(split, chunk...)
	}
	h, err := sniff.ParseClientHello(split)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "split.example" || !slices.Equal(h.ALPN, []string{"h2"}) {
		t.Errorf("SNI %q ALPN %q", h.ServerName, h.ALPN)
	}
	for n := range len(split) {
		if _, err := sniff.ParseClientHello(split[:n]); !errors.Is(err, sniff.ErrIncomplete) {
			t.Fatalf("prefix of %d/%d bytes: err %v, want ErrIncomplete", n, len(split), err)
		}
	}
}

func TestParseClientHelloFromOpenSSL(t *testing.T) {
	testenv.RequireTool(t, "openssl")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	testenv.Start(t, t.TempDir(), "openssl", "s_client", "-connect", l.Addr().String(),
		"-servername", "openssl.example", "-alpn", "h2,http/1.1")
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := sniff.ParseClientHello(readHello(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "openssl.example" || !slices.Equal(h.ALPN, []string{"h2", "http/1.1"}) {
		t.Errorf("SNI %q ALPN %q", h.ServerName, h.ALPN)
	}
	if !slices.Contains(h.SupportedVersions, tls.VersionTLS13) {
		t.Errorf("supported_versions %x lacks TLS 1.3", h.SupportedVersions)
	}
}
