package wire

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testpki"
)

// tap relays between a TLS client and server and keeps both directions.
func capturedTLS(t *testing.T, payload []byte) (toServer, toClient []byte) {
	t.Helper()
	ca := testpki.New(t, "example.org")
	svid := ca.Issue("spiffe://example.org/s", time.Hour)
	cert := tls.Certificate{PrivateKey: svid.PrivateKey, Certificate: [][]byte{svid.Certificates[0].Raw}}
	a, b := net.Pipe()
	var up, down bytes.Buffer
	c1, c2 := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(io.MultiWriter(b, &up), c2); b.Close() }()
	go func() { defer wg.Done(); io.Copy(io.MultiWriter(c2, &down), b); c2.Close() }()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	go func() {
		defer srv.Close()
		buf := make([]byte, len(payload))
		io.ReadFull(srv, buf)
		srv.Write(buf)
	}()
	cli := tls.Client(c1, &tls.Config{InsecureSkipVerify: true})
	cli.Write(payload)
	io.ReadFull(cli, make([]byte, len(payload)))
	cli.Close()
	wg.Wait()
	return up.Bytes(), down.Bytes()
}

func TestParseTLSRecordsOnRealTLS(t *testing.T) {
	marker := []byte("CARD-4111-1111-1111-1111")
	payload := bytes.Repeat(marker, 2000)
	up, down := capturedTLS(t, payload)
	for name, s := range map[string][]byte{"client→server": up, "server→client": down} {
		r, err := ParseTLSRecords(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Truncated || r.Bytes != len(s) || r.ByType[Handshake] == 0 || r.ByType[ApplicationData] == 0 {
			t.Fatalf("%s: %+v over %d bytes", name, r, len(s))
		}
		if found := FindMarkers(s, marker); len(found) != 0 {
			t.Fatalf("%s: plaintext marker on the wire", name)
		}
	}
}

func TestParseTLSRecordsRejectsPlaintext(t *testing.T) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"\x16\x03\x03\x00\x05hello" + "GET /",
		"\x17\x03\x03\xff\xff",
		"\x17\x02\x00\x00\x01x",
	} {
		if _, err := ParseTLSRecords([]byte(s)); err == nil {
			t.Errorf("%q parsed as TLS", s)
		} else if !strings.Contains(err.Error(), "offset") {
			t.Errorf("error does not name the offset: %v", err)
		}
	}
}

func TestParseTLSRecordsTruncated(t *testing.T) {
	r, err := ParseTLSRecords([]byte("\x17\x03\x03\x00\x10short"))
	if err != nil || !r.Truncated || r.Count != 0 {
		t.Fatalf("%+v %v", r, err)
	}
}

func FuzzParseTLSRecords(f *testing.F) {
	f.Add([]byte("\x16\x03\x01\x00\x01\x01\x17\x03\x03\x00\x02ab"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseTLSRecords(b)
		if r.Bytes > len(b) || r.Count < 0 {
			t.Fatalf("impossible summary %+v for %d bytes", r, len(b))
		}
		if err == nil && !r.Truncated && r.Bytes != len(b) {
			t.Fatalf("accepted %d of %d bytes without error", r.Bytes, len(b))
		}
	})
}
