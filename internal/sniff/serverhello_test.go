package sniff_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/sniff"
)

func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"server.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writes records what a connection writes.
type writes struct {
	net.Conn
	out []byte
}

func (w *writes) Write(b []byte) (int, error) {
	w.out = append(w.out, b...)
	return w.Conn.Write(b)
}

// captureServerFlight returns what a crypto/tls server with cfg writes
// during a handshake with a crypto/tls client with ccfg, over loopback
// (a synchronous net.Pipe would deadlock when both sides write at once).
func captureServerFlight(t testing.TB, cfg, ccfg *tls.Config) []byte {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return
		}
		c := tls.Client(b, ccfg)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Handshake()
		b.Close()
	}()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := &writes{Conn: a}
	s := tls.Server(w, cfg)
	s.SetDeadline(time.Now().Add(5 * time.Second))
	s.Handshake()
	a.Close()
	<-done
	return w.out
}

func TestParseServerFlightFromCryptoTLS(t *testing.T) {
	cert := testCert(t)
	type want struct {
		hello      sniff.ServerHello
		retry      bool
		messages   []uint8
		group      uint16
		alert      []byte
		requested  bool
		noComplete bool
	}
	tls12 := []uint8{sniff.HandshakeCertificate, sniff.HandshakeServerKeyExchange, sniff.HandshakeServerHelloDone}
	cases := []struct {
		name           string
		server, client func(*tls.Config)
		want           want
	}{
		{name: "TLS 1.3", want: want{hello: sniff.ServerHello{Version: 0x0303, CipherSuite: tls.TLS_AES_128_GCM_SHA256, SelectedVersion: 0x0304, KeyShare: 0x11ec}}},
		{name: "TLS 1.3 after HelloRetryRequest", server: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256} },
			client: func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256} },
			want:   want{retry: true, hello: sniff.ServerHello{Version: 0x0303, CipherSuite: tls.TLS_AES_128_GCM_SHA256, SelectedVersion: 0x0304, KeyShare: 0x0017}}},
		{name: "TLS 1.2", client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			want: want{hello: sniff.ServerHello{Version: 0x0303, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, messages: tls12, group: 0x001d}},
		{name: "TLS 1.2 with ALPN", client: func(c *tls.Config) { c.MaxVersion, c.NextProtos = tls.VersionTLS12, []string{"h2"} },
			server: func(c *tls.Config) { c.NextProtos = []string{"h2"} },
			want:   want{hello: sniff.ServerHello{Version: 0x0303, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ALPN: "h2"}, messages: tls12, group: 0x001d}},
		{name: "TLS 1.2 requesting a client certificate", client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			server: func(c *tls.Config) { c.ClientAuth = tls.RequestClientCert },
			want: want{hello: sniff.ServerHello{Version: 0x0303, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, group: 0x001d, requested: true,
				messages: []uint8{sniff.HandshakeCertificate, sniff.HandshakeServerKeyExchange, sniff.HandshakeCertificateReq, sniff.HandshakeServerHelloDone}}},
		{name: "refused with an alert", server: func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 },
			client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			want:   want{alert: []byte{2, 70}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := &tls.Config{Certificates: []tls.Certificate{cert}}
			client := &tls.Config{InsecureSkipVerify: true}
			if tc.server != nil {
				tc.server(server)
			}
			if tc.client != nil {
				tc.client(client)
			}
			b := captureServerFlight(t, server, client)
			f, err := sniff.ParseServerFlight(b)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if !f.Complete || f.HelloRetry != w.retry || f.Group != w.group || !reflect.DeepEqual(f.Alert, w.alert) ||
				!reflect.DeepEqual(f.Messages, w.messages) || f.CertificateRequested() != w.requested {
				t.Errorf("flight %+v", f)
			}
			if (f.Hello == nil) != (w.alert != nil) || f.Hello != nil && *f.Hello != w.hello {
				t.Errorf("hello %+v, want %+v", f.Hello, w.hello)
			}
			// Every prefix parses without error to an incomplete flight.
			for n := range len(b) {
				p, err := sniff.ParseServerFlight(b[:n])
				if err != nil || p.Complete && !reflect.DeepEqual(p, f) {
					t.Fatalf("prefix of %d bytes: %+v, %v", n, p, err)
				}
			}
		})
	}
}

func TestParseServerFlightRejects(t *testing.T) {
	cases := map[string][]byte{
		"HTTP":                  []byte("HTTP/1.1 200 OK\r\n"),
		"bad record version":    {22, 2, 0, 0, 1},
		"empty record":          {22, 3, 3, 0, 0},
		"oversized record":      {22, 3, 3, 0x48, 0x01},
		"ClientHello":           {22, 3, 1, 0, 4, 1, 0, 0, 0},
		"data before the hello": {23, 3, 3, 0, 1, 0},
		"short ServerHello":     {22, 3, 3, 0, 6, 2, 0, 0, 2, 3, 3},
	}
	for name, b := range cases {
		if _, err := sniff.ParseServerFlight(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParseServerFlight(f *testing.F) {
	cert := testCert(f)
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		b := captureServerFlight(f, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert},
			&tls.Config{InsecureSkipVerify: true, MaxVersion: max})
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := sniff.ParseServerFlight(b)
		if fl == nil {
			t.Fatalf("nil flight (error %v)", err)
		}
		if err != nil || !fl.Complete {
			return
		}
		// Bytes after a complete flight never change it.
		more, err := sniff.ParseServerFlight(append(b[:len(b):len(b)], 22, 3, 3, 0, 1, 2))
		if err != nil || !reflect.DeepEqual(fl, more) {
			t.Fatalf("with bytes appended: %+v, %v; before: %+v", more, err, fl)
		}
	})
}
