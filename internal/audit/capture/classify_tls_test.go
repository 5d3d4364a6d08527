package capture

import (
	"crypto/tls"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// tlsCase is a real handshake between crypto/tls peers; each case changes
// one thing from a TLS 1.3 baseline.
type tlsCase struct {
	name           string
	server, client func(*tls.Config)
	want           Verdict
	weak           []string // substrings of TLSInfo.Weak, in order
}

func baselineTLS(t *testing.T, c tlsCase) (server, client *tls.Config) {
	server = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, false)}}
	client = &tls.Config{ServerName: "server.test", InsecureSkipVerify: true}
	if c.server != nil {
		c.server(server)
	}
	if c.client != nil {
		c.client(client)
	}
	return server, client
}

func TestClassifyRealTLS(t *testing.T) {
	rsaCert := selfSigned(t, true)
	tls13 := TLSInfo{Version: "TLS 1.3", RecordVersion: "TLS 1.0", CipherSuite: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768",
		SNI: "server.test", ClientCert: certNotVisible}
	with := func(f func(*TLSInfo)) *TLSInfo { i := tls13; f(&i); return &i }
	tls12 := func(i *TLSInfo) {
		i.Version, i.RecordVersion, i.CipherSuite, i.Group = "TLS 1.2", "TLS 1.0", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "X25519"
		i.ClientCert = certNotRequested
	}
	cases := []tlsCase{
		{name: "TLS 1.3", want: Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: &tls13}},
		{name: "ALPN h2", server: func(c *tls.Config) { c.NextProtos = []string{"h2"} },
			client: func(c *tls.Config) { c.NextProtos = []string{"h2", "http/1.1"} },
			want:   Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: with(func(i *TLSInfo) { i.ALPNOffered = []string{"h2", "http/1.1"} })}},
		{name: "TLS 1.3 with X25519 only", client: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519} },
			want: Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: with(func(i *TLSInfo) { i.Group = "X25519" })}},
		{name: "TLS 1.2", client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			want: Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: with(tls12)}},
		{name: "TLS 1.2 requesting a client certificate", client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			server: func(c *tls.Config) { c.ClientAuth = tls.RequestClientCert },
			want:   Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: with(func(i *TLSInfo) { tls12(i); i.ClientCert = certRequested })}},
		{name: "TLS 1.0 with static RSA",
			server: func(c *tls.Config) {
				c.Certificates, c.MinVersion = []tls.Certificate{rsaCert}, tls.VersionTLS10
				c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
			},
			client: func(c *tls.Config) {
				c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
				c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
			},
			want: Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: with(func(i *TLSInfo) {
				i.Version, i.RecordVersion, i.CipherSuite, i.Group, i.ClientCert = "TLS 1.0", "TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA", "", certNotRequested
			})},
			weak: []string{"TLS 1.0 is deprecated", "is insecure", "static RSA key exchange"}},
		{name: "TLS 1.2 ALPN is in the clear", client: func(c *tls.Config) { c.MaxVersion, c.NextProtos = tls.VersionTLS12, []string{"h2"} },
			server: func(c *tls.Config) { c.NextProtos = []string{"h2"} },
			want:   Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: with(func(i *TLSInfo) { tls12(i); i.ALPN, i.ALPNOffered = "h2", []string{"h2"} })}},
		{name: "refused: server wants TLS 1.3, client offers 1.2",
			server: func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 },
			client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			want: Verdict{Protocol: ProtoTLS, Encrypted: true, TLS: &TLSInfo{RecordVersion: "TLS 1.0", SNI: "server.test",
				Alert: "fatal protocol_version (70)"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server, client := baselineTLS(t, tc)
			c, s := recordTLS(t, server, client, "ping")
			v, done := classify(c, s, &connInfo{serverPort: 443, handshake: true}, false)
			if !done {
				t.Fatalf("not decided on a whole handshake: %+v", v)
			}
			checkTLSVerdict(t, v, tc.want, tc.weak)
		})
	}
}

func checkTLSVerdict(t *testing.T, got, want Verdict, weak []string) {
	t.Helper()
	if got.TLS == nil {
		t.Fatalf("no TLS details: %+v", got)
	}
	gotWeak := got.TLS.Weak
	got.TLS.Weak = nil
	if got.Protocol != want.Protocol || got.Encrypted != want.Encrypted || !reflect.DeepEqual(*got.TLS, *want.TLS) {
		t.Errorf("verdict %s %+v\nwant     %s %+v", got.Protocol, *got.TLS, want.Protocol, *want.TLS)
	}
	if len(gotWeak) != len(weak) {
		t.Fatalf("weak = %q, want %d reasons like %q", gotWeak, len(weak), weak)
	}
	for i, w := range weak {
		if !strings.Contains(gotWeak[i], w) {
			t.Errorf("weak[%d] = %q, want it to say %q", i, gotWeak[i], w)
		}
	}
}

func TestClassifyHopsealMTLS(t *testing.T) {
	ca := testpki.New(t, "mesh.test")
	server := ca.Issue("spiffe://mesh.test/ns/shop/sa/payments", time.Hour)
	client := ca.Issue("spiffe://mesh.test/ns/shop/sa/orders", time.Hour)
	any := tlsconf.AuthorizeAny()
	sc := tlsconf.MTLSServer(server, ca.Bundle(), any, time.Now)
	sc.NextProtos = tlsconf.MeshProtocols()
	cc := tlsconf.MTLSClient(client, ca.Bundle(), tlsconf.AuthorizeID(spiffeid.RequireFromString("spiffe://mesh.test/ns/shop/sa/payments")), time.Now)
	cc.NextProtos = []string{tlsconf.HintProtocol("http1"), tlsconf.NextProto}
	c, s := recordTLS(t, sc, cc, "GET / HTTP/1.1\r\n\r\n")
	v, done := classify(c, s, &connInfo{serverPort: 8080, handshake: true}, false)
	if !done || v.Protocol != ProtoMesh || !v.Encrypted {
		t.Fatalf("verdict %+v done=%v, want hopseal mTLS", v, done)
	}
	if v.TLS.Version != "TLS 1.3" || !slices.Equal(v.TLS.ALPNOffered, []string{"hopseal/1-http1", "hopseal/1"}) || v.TLS.Group != "X25519MLKEM768" || !strings.HasPrefix(v.TLS.ClientCert, "required") {
		t.Errorf("TLS details %+v", *v.TLS)
	}
	f := Flow{Client: "10.0.0.1", Server: "10.0.0.2:8080", Verdict: v}
	rs := rules(&f)
	if len(rs) != 1 || rs[0].id != "capture/encrypted" || rs[0].what != "hopseal mTLS (TLS 1.3, X25519MLKEM768)" {
		t.Errorf("rules %+v", rs)
	}
}

// A TLS server on a port listed as hopseal's counts as mesh mTLS even
// when its ALPN does not say so, as when the handshake predates the capture.
func TestClassifyMeshPort(t *testing.T) {
	server, client := baselineTLS(t, tlsCase{})
	c, s := recordTLS(t, server, client, "x")
	v, _ := classify(c, s, &connInfo{serverPort: 15006, handshake: true, meshPort: true}, true)
	if v.Protocol != ProtoMesh {
		t.Errorf("protocol %q on a mesh port", v.Protocol)
	}
	// Without the handshake only the record framing is left, from a record
	// boundary (after the ServerHello) or from inside a record.
	hello := 5 + (int(s[3])<<8 | int(s[4]))
	for _, from := range []int{hello, hello + 2} {
		mid, _ := classify(nil, s[from:], &connInfo{serverPort: 15006, meshPort: true}, true)
		if mid.Protocol != ProtoMesh || !mid.Encrypted || len(mid.Notes) == 0 {
			t.Errorf("from byte %d: verdict %+v", from, mid)
		}
		other, _ := classify(nil, s[from:], &connInfo{serverPort: 443}, true)
		if other.Protocol != ProtoTLS {
			t.Errorf("from byte %d, port 443: verdict %+v", from, other)
		}
	}
}
