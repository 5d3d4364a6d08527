package capture

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// tcpPacket builds a decoded TCP packet.
func tcpPacket(src, dst string, seq uint32, syn, ack, fin bool, payload []byte) *packet {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return &packet{src: s.Addr(), dst: d.Addr(), sport: s.Port(), dport: d.Port(), proto: protoTCP,
		seq: seq, syn: syn, ack: ack, fin: fin, payload: payload, wireLen: len(payload)}
}

// Many connections that never decide stay within the connection and
// buffer bounds; every one is still reported at the end.
func TestTableBounds(t *testing.T) {
	o := Options{StreamBytes: 4096, MaxConnections: 64, MaxBuffered: 64 << 10}.withDefaults()
	emitted := 0
	tb := newTable(&o, func(*conn) { emitted++ })
	opaque := make([]byte, 1000)
	rand.Read(opaque)
	ts := time.Unix(1_800_000_000, 0)
	const conns = 500
	for i := range conns {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000).String()
		tb.add(tcpPacket(client, "10.9.0.1:7000", 1, true, false, false, nil), ts)
		for k := range 3 {
			tb.add(tcpPacket(client, "10.9.0.1:7000", 2+uint32(k*len(opaque)), false, true, false, opaque), ts)
			sum := 0
			for _, c := range tb.conns {
				sum += c.c.buffered() + c.s.buffered()
			}
			if sum != tb.buffered {
				t.Fatalf("buffered count %d, streams hold %d", tb.buffered, sum)
			}
			if len(tb.conns) > o.MaxConnections || tb.buffered > o.MaxBuffered+2*o.StreamBytes {
				t.Fatalf("after connection %d: %d connections, %d bytes buffered", i, len(tb.conns), tb.buffered)
			}
		}
	}
	tb.flush()
	if emitted != conns || tb.buffered != 0 || tb.evicted == 0 {
		t.Errorf("emitted %d of %d, %d bytes still buffered, %d evicted", emitted, conns, tb.buffered, tb.evicted)
	}
}

func TestTableLifecycle(t *testing.T) {
	o := Options{IdleTimeout: time.Minute}.withDefaults()
	var got []*conn
	tb := newTable(&o, func(c *conn) { got = append(got, c) })
	ts := time.Unix(1_800_000_000, 0)
	a, b := "10.0.0.1:40000", "10.0.0.2:80"
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	tb.add(tcpPacket(a, b, 100, true, false, false, nil), ts)
	tb.add(tcpPacket(b, a, 900, true, true, false, nil), ts)
	tb.add(tcpPacket(a, b, 101, false, true, false, req), ts)
	if c := tb.conns[keyOf(netip.MustParseAddrPort(a), netip.MustParseAddrPort(b))]; c == nil || !c.decided || c.c.data != nil {
		t.Fatalf("a whole request head did not decide the connection and free its buffers: %+v", c)
	}
	tb.add(tcpPacket(a, b, 101+uint32(len(req)), false, true, true, nil), ts)
	tb.add(tcpPacket(b, a, 901, false, true, true, nil), ts)
	// The same 4-tuple again, after the end: a new connection.
	tb.add(tcpPacket(a, b, 5000, true, false, false, nil), ts.Add(time.Second))
	if len(got) != 1 || got[0].verdict.Protocol != ProtoHTTP1 {
		t.Fatalf("after reuse of the 4-tuple: emitted %d", len(got))
	}
	// Idle past the timeout: gone when a later packet comes.
	tb.add(tcpPacket("10.0.0.3:40000", b, 1, true, false, false, nil), ts.Add(2*time.Minute))
	if len(got) != 2 || got[1].index != 1 || len(tb.conns) != 1 {
		t.Fatalf("idle connection not closed: emitted %d, open %d", len(got), len(tb.conns))
	}
}

func TestStreamGaps(t *testing.T) {
	const limit = 1024
	t.Run("snap length", func(t *testing.T) {
		var s stream
		s.add(&packet{seq: 1, syn: true}, limit)
		s.add(&packet{seq: 2, payload: []byte("abc"), wireLen: 10}, limit)
		s.add(&packet{seq: 12, payload: []byte("defg"), wireLen: 4}, limit)
		if string(s.data) != "abc" || !s.gap {
			t.Errorf("data %q gap %v", s.data, s.gap)
		}
	})
	t.Run("hole never filled", func(t *testing.T) {
		var s stream
		s.add(&packet{seq: 1, syn: true}, limit)
		for i := range maxPending + 1 {
			s.add(&packet{seq: uint32(100 + 10*i), payload: []byte("0123456789"), wireLen: 10}, limit)
		}
		if !s.gap || len(s.data) != 0 || s.buffered() > limit {
			t.Errorf("gap %v, data %d, holding %d", s.gap, len(s.data), s.buffered())
		}
	})
	t.Run("limit", func(t *testing.T) {
		var s stream
		s.add(&packet{seq: 1, syn: true}, limit)
		big := bytes.Repeat([]byte("x"), 3000)
		s.add(&packet{seq: 2, payload: big, wireLen: len(big)}, limit)
		if len(s.data) != limit || s.gap || s.bytes != 3000 {
			t.Errorf("data %d gap %v bytes %d", len(s.data), s.gap, s.bytes)
		}
	})
}

func TestProgress(t *testing.T) {
	now := time.Unix(0, 0)
	var out bytes.Buffer
	a := NewAnalyzer(Options{Progress: &out, ProgressEvery: time.Second, Now: func() time.Time { return now }})
	a.progress(false)
	if out.Len() != 0 {
		t.Fatalf("a line before the interval: %q", out.String())
	}
	now = now.Add(time.Second)
	a.stats.Packets, a.stats.Bytes = 1500, 3<<20
	a.progress(false)
	a.progress(false)
	if !strings.Contains(out.String(), "capture: 1500 packets (3.0 MiB)") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("progress %q", out.String())
	}
	a.Result()
	if strings.Count(out.String(), "\n") != 2 {
		t.Errorf("no last line at the end of a long run: %q", out.String())
	}
}
