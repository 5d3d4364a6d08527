package l7_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/sniff"
)

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"app"}, NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// As on the inbound side: the client's stream arrives inside TLS over the
// proxy's Transport, sniff.Read classifies it, and the bytes it read are
// the prefix ServeHTTP1 or ServeHTTP2 starts from.
func TestInsideTLSWithSniffedPrefix(t *testing.T) {
	tests := []struct {
		name  string
		proto sniff.Protocol
		alpn  []string
		serve serveFunc
	}{
		{name: "HTTP/1.1", proto: sniff.HTTP1, serve: l7.ServeHTTP1},
		{name: "HTTP/2", proto: sniff.HTTP2, alpn: []string{"h2"}, serve: l7.ServeHTTP2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				io.WriteString(w, r.Proto+" "+r.URL.Path+" "+string(b))
			}, true)
			addr, log := startTLSFront(t, up.Addr, tc.alpn, tc.proto, tc.serve)
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: tc.alpn}}
			if tc.alpn != nil {
				if _, err := http2.ConfigureTransports(tr); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for _, p := range []string{"/one", "/two", "/admin"} {
				resp, err := client.Post("https://"+addr+p, "text/plain", strings.NewReader("x"))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := "HTTP/1.1 " + p + " x"
				if tc.alpn != nil {
					want = "HTTP/2.0 " + p + " x"
				}
				if p == "/admin" && resp.StatusCode != 403 || p != "/admin" && string(b) != want {
					t.Errorf("%s: %d %q, want %q", p, resp.StatusCode, b, want)
				}
			}
			if reps := log.wait(t, 3); reps[0].Path != "/one" || reps[1].Path != "/two" || !reps[2].Denied {
				t.Errorf("reports %+v", reps)
			}
		})
	}
}

// startTLSFront serves TLS over Transport, sniffs, then runs serve.
func startTLSFront(t *testing.T, upstream string, alpn []string, want sniff.Protocol, serve serveFunc) (string, *observed) {
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: alpn}
	f := startFront(t, upstream, func(c net.Conn, _ []byte, u net.Conn, o l7.Options) (int64, int64, error) {
		tc := tls.Server(proxy.NewTransport(c), cfg)
		if err := tc.Handshake(); err != nil {
			c.Close()
			u.Close()
			return 0, 0, err
		}
		r, prefix, err := sniff.Read(tc, sniff.DefaultMax, 5*time.Second)
		if err != nil || r.Protocol != want {
			t.Errorf("sniff.Read = %+v, %v; want %s", r, err, want)
		}
		return serve(tc, prefix, proxy.NewTransport(u), o)
	}, denyPrefix("/admin"))
	return f.Addr, f.Log
}
