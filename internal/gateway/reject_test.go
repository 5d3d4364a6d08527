package gateway_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/wire"
)

// clientHello is the first flight of a Go TLS client for sni ("" sends no
// server name), captured off a pipe.
func clientHello(t *testing.T, sni string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go tls.Client(a, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	b.Close()
	return append(hdr, body...)
}

// exchange sends b on a new connection to addr and returns everything the
// gateway sent back before closing it.
func exchange(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	io.Copy(&got, c) // ends at the gateway's close or reset
	return got.Bytes()
}

// alertOnly checks that got is TLS records holding only alerts, the last
// one being desc (0: any), and never anything readable as plaintext.
func alertOnly(desc byte) func(*testing.T, []byte) {
	return func(t *testing.T, got []byte) {
		t.Helper()
		recs, err := wire.ParseTLSRecords(got)
		if err != nil || recs.Truncated || recs.Count == 0 || recs.ByType[wire.Alert] != recs.Count {
			t.Fatalf("answer %x is not TLS alerts: %+v %v", got, recs, err)
		}
		if desc != 0 && got[len(got)-1] != desc {
			t.Fatalf("alert %d, want %d", got[len(got)-1], desc)
		}
	}
}

func nothing(t *testing.T, got []byte) {
	t.Helper()
	if len(got) != 0 {
		t.Fatalf("the gateway answered %q to bytes that are not TLS", got)
	}
}

const unrecognizedName = 112

// Each case is a client the listener cannot route: it gets a TLS alert or
// nothing, one log line, and a count under its result.
func TestRejections(t *testing.T) {
	e := newEnv(t)
	web := e.meshServer("spiffe://demo.local/ns/shop/sa/web", gwID, nil, echo("web"))
	api := e.meshServer("spiffe://demo.local/ns/shop/sa/api", gwID, nil, echo("api"))
	e.handshake = time.Second // for the silent client
	g := e.start(terminateFile(e, web, api, ""))
	addr := g.addr("https")
	tests := []struct {
		name   string
		send   []byte
		result string
		check  func(*testing.T, []byte)
	}{
		{"unknown server name", clientHello(t, "nope.example.com"), "unknown_sni", alertOnly(unrecognizedName)},
		{"parent domain of a route", clientHello(t, "example.com"), "unknown_sni", alertOnly(unrecognizedName)},
		{"no server name", clientHello(t, ""), "no_sni", alertOnly(unrecognizedName)},
		{"plaintext HTTP", []byte("GET / HTTP/1.1\r\nHost: shop.example.com\r\n\r\n"), "bad_client_hello", nothing},
		{"malformed ClientHello", []byte{0x16, 3, 1, 0, 6, 1, 0, 0, 2, 0xff, 0xff}, "bad_client_hello", alertOnly(0)},
		{"silent client", nil, "bad_client_hello", nothing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.metric(t, "hopseal_gateway_connections_total", map[string]string{"listener": "https", "result": tt.result})
			tt.check(t, exchange(t, addr, tt.send))
			testenv.Eventually(t, wait, "the refusal counted", func() bool {
				return g.metric(t, "hopseal_gateway_connections_total", map[string]string{"listener": "https", "result": tt.result}) == before+1
			})
		})
	}
	lines := g.lines("connection", func(l map[string]any) bool { return l["result"] != "ok" })
	if len(lines) != len(tests) {
		t.Fatalf("%d connection lines for %d refused clients", len(lines), len(tests))
	}
	for _, l := range lines {
		if l["level"] != "WARN" || l["reason"] == nil {
			t.Errorf("refusal line %v", l)
		}
	}
	// A Go client names the alert.
	_, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "nope.example.com"})
	if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Errorf("Go client error %v, want the unrecognized name alert", err)
	}
}

// An exact hostname beats a wildcard; a wildcard covers one label only.
func TestRouteBySNI(t *testing.T) {
	e := newEnv(t)
	exact := e.meshServer("spiffe://demo.local/exact", gwID, nil, echo("exact"))
	wild := e.meshServer("spiffe://demo.local/wild", gwID, nil, echo("wild"))
	cert, key := e.webCert(e.public, "wild", x509.ExtKeyUsageServerAuth, "*.example.com")
	g := e.start(fmt.Sprintf(`listeners:
  - name: https
    listen: 127.0.0.1:0
    routes:
      - {hostname: "*.example.com", mode: terminate, tls: {cert_file: %[1]s, key_file: %[2]s}, backends: [{path_prefix: /, address: %[3]s, server_id: spiffe://demo.local/wild}]}
      - {hostname: shop.example.com, mode: terminate, tls: {cert_file: %[1]s, key_file: %[2]s}, backends: [{path_prefix: /, address: %[4]s, server_id: spiffe://demo.local/exact}]}
`, cert, key, wild.Addr, exact.Addr))
	c := e.client(g.addr("https"), true, nil)
	for host, want := range map[string]string{"shop.example.com": "exact", "SHOP.example.com": "exact", "pay.example.com": "wild"} {
		_, body := get(t, c, "https://"+host+"/")
		if !strings.HasPrefix(body, want+" ") {
			t.Errorf("%s answered by %q, want %s", host, body, want)
		}
	}
	if got := exchange(t, g.addr("https"), clientHello(t, "a.b.example.com")); len(got) == 0 || got[len(got)-1] != unrecognizedName {
		t.Errorf("two labels under the wildcard: answer %x, want unrecognized_name", got)
	}
}
