package capture

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// selfSigned makes a server certificate for "server.test" (RSA when asked:
// static-RSA suites need one).
func selfSigned(t testing.TB, useRSA bool) tls.Certificate {
	t.Helper()
	var key crypto.Signer
	var err error
	if useRSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "server.test"}, DNSNames: []string{"server.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// recorder is a server-side connection that keeps what it reads (the
// client's bytes) and writes (the server's).
type recorder struct {
	net.Conn
	mu     sync.Mutex
	client []byte
	server []byte
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.mu.Lock()
	r.client = append(r.client, b[:n]...)
	r.mu.Unlock()
	return n, err
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.server = append(r.server, b...)
	r.mu.Unlock()
	return r.Conn.Write(b)
}

// recordTLS runs a real TLS handshake over loopback, the client sending
// payload and the server echoing it, and returns each side's bytes. A
// failed handshake is recorded too (its alert is on the wire).
func recordTLS(t testing.TB, server, client *tls.Config, payload string) (c, s []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan *recorder, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			done <- nil
			return
		}
		rec := &recorder{Conn: conn}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(rec, server)
		if tc.Handshake() == nil {
			buf := make([]byte, len(payload))
			if _, err := io.ReadFull(tc, buf); err == nil {
				tc.Write(buf)
			}
		}
		tc.Close()
		done <- rec
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, client)
	if tc.Handshake() == nil {
		tc.Write([]byte(payload))
		io.ReadAll(tc)
	}
	conn.Close()
	rec := <-done
	if rec == nil {
		t.Fatal("accept failed")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.client, rec.server
}
