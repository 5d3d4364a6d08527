package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
	"github.com/hopseal/hopseal/internal/wire"
)

// exchange serves one connection with serve, sends request through a tap
// in front of it and returns what the tap kept.
func exchange(t *testing.T, serve func(net.Conn), dial func(addr string) net.Conn, request string) Capture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	tap, err := NewTap(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	served := make(chan error, 1)
	go func() { served <- tap.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("tap: %v", err)
		}
	})
	c := dial(tap.Addr())
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := tap.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return tap.Captures()[0]
}

// answer reads one line and writes an answer carrying markers, then closes.
func answer(c net.Conn) {
	line := make([]byte, 256)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Read(line)
	io.WriteString(c, OrderID+" "+Authorized+"\n")
	if tc, ok := c.(*tls.Conn); ok {
		tc.CloseWrite()
	}
}

// tlsCapture is a real mutual TLS 1.3 connection, as the proxies make it.
func tlsCapture(t *testing.T) Capture {
	ca := testpki.New(t, TrustDomain)
	server, client := ca.Issue(ServiceID(Payments).String(), time.Hour), ca.Issue(ServiceID(Orders).String(), time.Hour)
	bundle := ca.Bundle()
	serverConf := tlsconf.MTLSServer(server, bundle, tlsconf.AuthorizeAny(), time.Now)
	clientConf := tlsconf.MTLSClient(client, bundle, tlsconf.AuthorizeID(ServiceID(Payments)), time.Now)
	return exchange(t,
		func(c net.Conn) { answer(tls.Server(c, serverConf)) },
		func(addr string) net.Conn {
			c, err := tls.Dial("tcp", addr, clientConf)
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		CardNumber+" "+Customer+"\n")
}

func plainCapture(t *testing.T) Capture {
	return exchange(t, answer, func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, "POST /charge "+CardNumber+"\n")
}

// TestCheckCiphertext starts from a real TLS capture that passes and changes
// one thing per case; each change must be caught.
func TestCheckCiphertext(t *testing.T) {
	base := tlsCapture(t)
	for _, dir := range [][]byte{base.Up, base.Down} {
		if _, err := CheckCiphertext(dir, Markers()); err != nil {
			t.Fatalf("baseline capture rejected: %v", err)
		}
	}
	up := base.Up
	recs := records(t, up)
	if up[recs[0]] != wire.Handshake {
		t.Fatalf("first record has content type %d, want a handshake", up[recs[0]])
	}
	var data, bigData int // first application data record, and one with room for a marker
	for i := len(recs) - 1; i >= 0; i-- {
		if off := recs[i]; up[off] == wire.ApplicationData {
			data = off
			if int(binary.BigEndian.Uint16(up[off+3:])) > 64 {
				bigData = off
			}
		}
	}
	if data == 0 || bigData == 0 {
		t.Fatal("capture has no application data record large enough")
	}
	tests := []struct {
		name, wantErr string
		stream        []byte
	}{
		{"empty", "no bytes", nil},
		{"plaintext HTTP", "plaintext on the wire", plainCapture(t).Up},
		{"marker inside a record", "plaintext on the wire", splice(up, bigData+5, []byte(CardNumber))},
		{"truncated", "inside a TLS record", up[:len(up)-3]},
		{"handshake only", "no encrypted application data", up[:data]},
		{"garbage before the records", "is not TLS", append([]byte("X-Forwarded: 1\r\n"), up...)},
		{"application data only", "no TLS handshake", up[data:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckCiphertext(tc.stream, Markers())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckCiphertext = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// records returns the offset of each TLS record in b.
func records(t *testing.T, b []byte) []int {
	t.Helper()
	var offs []int
	for off := 0; off+5 <= len(b); off += 5 + int(binary.BigEndian.Uint16(b[off+3:])) {
		offs = append(offs, off)
	}
	if len(offs) == 0 {
		t.Fatal("no TLS records")
	}
	return offs
}

// splice overwrites b at off with s, keeping the record framing intact.
func splice(b []byte, off int, s []byte) []byte {
	out := bytes.Clone(b)
	copy(out[off:], s)
	return out
}

// TestSummariseWireCatchesPlaintext feeds a real plaintext exchange to the
// wire check the demo runs: it must report the leak, while the app-leg
// summary finds the markers it carried.
func TestSummariseWireCatchesPlaintext(t *testing.T) {
	plain := plainCapture(t)
	w := SummariseWire([]Capture{plain}, Markers())
	if len(w.Leaked) == 0 || len(w.Problems) == 0 {
		t.Fatalf("plaintext passed the wire check: %+v", w)
	}
	if !strings.Contains(strings.Join(w.Leaked, " "), CardNumber) {
		t.Errorf("leaked = %q, want the card number", w.Leaked)
	}
	p := SummarisePlain([]Capture{plain}, Markers())
	if strings.Join(p.Found, " ") != strings.Join([]string{CardNumber, OrderID, Authorized}, " ") {
		t.Errorf("plain summary found %q", p.Found)
	}
	if ok := SummariseWire([]Capture{tlsCapture(t)}, Markers()); len(ok.Leaked)+len(ok.Problems) > 0 {
		t.Errorf("real TLS flagged: %+v", ok)
	}
}

// TestCheckFlows changes one thing per case from a flow that passes.
func TestCheckFlows(t *testing.T) {
	peer := ServiceID(Orders)
	base := ServiceFlow{Service: Payments, Flow: proxy.Flow{
		Decision: proxy.Allow,
		Peer:     proxy.Peer{ID: peer, TLS: proxy.TLSInfo{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", Group: "X25519MLKEM768"}},
	}}
	if p := checkFlows([]ServiceFlow{base}, peer.String(), "payments"); len(p) != 0 {
		t.Fatalf("baseline flow rejected: %q", p)
	}
	tests := []struct {
		name, want string
		change     func(*ServiceFlow)
	}{
		{"denied", "decision deny", func(f *ServiceFlow) { f.Decision = proxy.Deny }},
		{"other peer", "verified " + ServiceID(Intruder).String(), func(f *ServiceFlow) { f.Peer.ID = ServiceID(Intruder) }},
		{"TLS 1.2", "negotiated TLS 1.2", func(f *ServiceFlow) { f.Peer.TLS.Version = "TLS 1.2" }},
		{"classical key exchange", "key exchange X25519,", func(f *ServiceFlow) { f.Peer.TLS.Group = "X25519" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			tc.change(&f)
			p := checkFlows([]ServiceFlow{base, f}, peer.String(), "payments")
			if len(p) != 1 || !strings.Contains(p[0], tc.want) {
				t.Fatalf("problems = %q, want one containing %q", p, tc.want)
			}
		})
	}
}
