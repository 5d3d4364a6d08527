package sniff_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/sniff"
)

// tlsPair returns both ends of a TLS 1.3 connection over loopback TCP, with
// the handshake done.
func tlsPair(t *testing.T) (client, server *tls.Conn) {
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
	c, s := tcpPair(t)
	server = tls.Server(s, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	client = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return client, server
}

// Inside a TLS connection: the request is classified and the bytes read are
// returned to be sent on first; the rest of the stream follows.
func TestReadInsideTLS(t *testing.T) {
	client, server := tlsPair(t)
	head := "PUT /items/1 HTTP/1.1\r\nHost: items\r\nContent-Length: 4\r\n\r\n"
	go func() {
		client.Write([]byte(head[:10]))
		client.Write([]byte(head[10:] + "body"))
	}()
	r, got, err := sniff.Read(server, sniff.DefaultMax, 10*time.Second)
	if err != nil || r.Protocol != sniff.HTTP1 || r.Method != "PUT" {
		t.Fatalf("Read = %+v, %v", r, err)
	}
	rest := readN(t, server, len(head)+4-len(got))
	if string(got)+string(rest) != head+"body" {
		t.Errorf("consumed %q + rest %q, want the whole request", got, rest)
	}
}

// Nothing sent: Read gives up at the timeout with Opaque and no bytes, and
// the TLS connection still works afterwards.
func TestReadTimeoutKeepsTLSUsable(t *testing.T) {
	client, server := tlsPair(t)
	const timeout = 100 * time.Millisecond
	start := time.Now()
	r, got, err := sniff.Read(server, sniff.DefaultMax, timeout)
	if err != nil || r.Protocol != sniff.Opaque || len(got) != 0 {
		t.Fatalf("Read = %+v, %q, %v; want Opaque and nothing", r, got, err)
	}
	if d := time.Since(start); d < timeout {
		t.Errorf("Read returned after %s, before the %s timeout", d, timeout)
	}
	go client.Write([]byte("later"))
	if b := readN(t, server, 5); string(b) != "later" {
		t.Errorf("read %q after the timeout", b)
	}
}

func TestReadEOF(t *testing.T) {
	client, server := tlsPair(t)
	client.Write([]byte("\x00\x01"))
	client.CloseWrite()
	r, got, err := sniff.Read(server, sniff.DefaultMax, 10*time.Second)
	if err != nil || r.Protocol != sniff.Opaque || string(got) != "\x00\x01" {
		t.Fatalf("Read = %+v, %q, %v", r, got, err)
	}
}

// A ClientHello bigger than max: the guess is TLS, and exactly max bytes
// were consumed.
func TestReadStopsAtMax(t *testing.T) {
	client, server := tlsPair(t)
	hello := captureHello(t, &tls.Config{ServerName: "max.example"})
	go client.Write(hello)
	r, got, err := sniff.Read(server, 100, 10*time.Second)
	if err != nil || r.Protocol != sniff.TLS || len(got) != 100 {
		t.Fatalf("Read = %+v, %d bytes, %v; want TLS and 100 bytes", r, len(got), err)
	}
}
