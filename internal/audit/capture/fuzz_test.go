package capture

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// seedStreams are real and hand-built connections for the fuzzers' corpus.
func seedStreams(f *testing.F) [][2][]byte {
	tc, ts := recordTLS(f, &tls.Config{Certificates: []tls.Certificate{selfSigned(f, false)}}, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, "x")
	return [][2][]byte{
		{tc, ts},
		{append(pgCode(pgSSLRequest), tc...), append([]byte("S"), ts...)},
		{append(pgStartup("user", "a"), pgMessage('p', "pw\x00")...), pgAuth(pgAuthCleartext)},
		{mysqlResponse(false), mysqlGreeting()},
		{[]byte(resp("AUTH", "pw") + resp("GET", "k")), []byte("+OK\r\n")},
		{[]byte("EHLO a\r\nSTARTTLS\r\n"), []byte("220 x ESMTP\r\n250 ok\r\n220 go\r\n")},
		{[]byte("GET / HTTP/1.1\r\nCookie: a=b\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\n\r\n")},
		{[]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"), nil},
		{[]byte("\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"), nil},
		{[]byte("SSH-2.0-x\r\n"), []byte("SSH-2.0-y\r\n")},
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range seedStreams(f) {
		f.Add(s[0], s[1], uint16(443), uint16(len(s[0])/2), false)
	}
	f.Fuzz(func(t *testing.T, c, s []byte, port, cut uint16, handshake bool) {
		info := &connInfo{serverPort: port, handshake: handshake, meshPort: port == 15006}
		v, done := classify(c, s, info, true)
		if !done || v.Protocol == "" {
			t.Fatalf("final classification undecided: %+v", v)
		}
		if len(v.Sample) > 4*sampleSize || v.Encrypted && v.Sample != "" {
			t.Fatalf("sample %q (encrypted %v)", v.Sample, v.Encrypted)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatal(err)
		}
		// A decision taken on a prefix holds for the whole stream.
		k := int(cut) % (len(c) + 1)
		pv, pdone := classify(c[:k], s, info, false)
		if pdone {
			full, _ := classify(c, s, info, false)
			if full.Protocol != pv.Protocol || full.Encrypted != pv.Encrypted {
				t.Fatalf("decided %s (encrypted %v) on %d client bytes, %s (encrypted %v) on all %d", pv.Protocol, pv.Encrypted, k, full.Protocol, full.Encrypted, len(c))
			}
		}
	})
}

func FuzzReadCapture(f *testing.F) {
	var b bytes.Buffer
	tc, ts := shopTLS(f)
	shop(f, newPcap(f, &b), tc, ts)
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:len(b.Bytes())/2])
	var ng bytes.Buffer
	s, flush := newPcapng(f, &ng)
	s.conn("10.0.0.1:40000", "10.0.0.2:80", cl("GET / HTTP/1.1\r\n\r\n"))
	flush()
	f.Add(ng.Bytes())
	f.Fuzz(func(t *testing.T, file []byte) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second): // a hang, or a pathological slowdown
				panic(fmt.Sprintf("analysing %d bytes took over 10 s", len(file)))
			}
		}()
		src, err := NewReader(bytes.NewReader(file), "fuzz.pcap")
		if err != nil {
			return
		}
		a := NewAnalyzer(Options{StreamBytes: 512, MaxConnections: 8, MaxBuffered: 2048})
		a.Run(context.Background(), src)
		r := a.Result()
		if r.Stats.Matched > r.Stats.Packets || r.Stats.TCPPackets > r.Stats.Matched || len(r.Conns) > r.Stats.Connections {
			t.Fatalf("stats %+v with %d connections", r.Stats, len(r.Conns))
		}
		if a.table.buffered != 0 || len(a.table.conns) != 0 {
			t.Fatalf("after the result: %d bytes buffered in %d connections", a.table.buffered, len(a.table.conns))
		}
		if _, err := r.Evidence(time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
	})
}
