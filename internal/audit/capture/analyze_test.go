package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/hopseal/hopseal/internal/audit"
)

// analyzeBytes runs an analysis over one capture file's bytes.
func analyzeBytes(t testing.TB, b []byte, o Options) (*Result, error) {
	t.Helper()
	src, err := NewReader(bytes.NewReader(b), "test.pcap")
	if err != nil {
		return nil, err
	}
	a := NewAnalyzer(o)
	err = a.Run(context.Background(), src)
	return a.Result(), err
}

const hostsYAML = `
hosts:
  - {name: orders, namespace: shop, addresses: [10.0.0.10]}
  - {name: payments, namespace: shop, addresses: ["10.0.1.0/24"]}
  - {name: db, addresses: ["fd00::5"]}
`

// shop writes the connections most tests read: plaintext HTTP with a
// credential, TLS 1.3, PostgreSQL over IPv6, and a refused connection.
func shop(t testing.TB, s *synth, tlsC, tlsS []byte) {
	s.conn("10.0.0.10:40000", "10.0.1.7:8080",
		cl("GET /pay HTTP/1.1\r\nHost: payments\r\nAuthorization: Basic "+secretToken+"\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	s.conn("10.0.0.10:40001", "10.0.1.7:443", msg{true, tlsC}, msg{false, tlsS})
	s.conn("[fd00::9]:40002", "[fd00::5]:5432",
		msg{true, pgStartup("user", "app", "database", "shop")}, msg{false, pgAuth(pgAuthMD5)},
		msg{true, pgMessage('p', "md5abc\x00")}, msg{true, pgMessage('Q', "select 1\x00")})
}

func shopTLS(t testing.TB) (c, s []byte) {
	return recordTLS(t, &tls.Config{Certificates: []tls.Certificate{selfSigned(t, false)}}, &tls.Config{InsecureSkipVerify: true, ServerName: "payments.shop"}, "hello")
}

func TestAnalyzeFileFormats(t *testing.T) {
	tlsC, tlsS := shopTLS(t)
	names, err := ParseHosts([]byte(hostsYAML))
	if err != nil {
		t.Fatal(err)
	}
	var pcap, ng bytes.Buffer
	shop(t, newPcap(t, &pcap), tlsC, tlsS)
	s, flush := newPcapng(t, &ng)
	shop(t, s, tlsC, tlsS)
	flush()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pcap.Bytes())
	zw.Close()
	for name, b := range map[string][]byte{"pcap": pcap.Bytes(), "pcapng": ng.Bytes(), "pcap.gz": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			r, err := analyzeBytes(t, b, Options{Names: names})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, c := range r.Conns {
				got[c.Client+" "+c.Server] = c.Protocol
			}
			want := map[string]string{
				"10.0.0.10:40000 10.0.1.7:8080": ProtoHTTP1, "10.0.0.10:40001 10.0.1.7:443": ProtoTLS,
				"[fd00::9]:40002 [fd00::5]:5432": ProtoPostgres,
			}
			if len(got) != len(want) || r.Stats.Connections != 3 || r.Stats.TCPPackets == 0 {
				t.Fatalf("connections %v (stats %+v), want %v", got, r.Stats, want)
			}
			for k, p := range want {
				if got[k] != p {
					t.Errorf("%s: %q, want %q", k, got[k], p)
				}
			}
			titles := findingTitles(r.Findings())
			for _, want := range []string{
				"critical orders → payments: plaintext HTTP with credentials in the clear",
				"high fd00::9 → db: plaintext PostgreSQL",
				"info orders → payments: TLS (TLS 1.3, X25519MLKEM768)",
			} {
				if !slices.Contains(titles, want) {
					t.Errorf("no finding %q in %q", want, titles)
				}
			}
		})
	}
}

func findingTitles(fs []audit.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Severity.String()+" "+f.Title)
	}
	return out
}

// Raw IP captures (no link layer) of both families, and a snap length that
// cuts packets short.
func TestAnalyzeRawAndSnapped(t *testing.T) {
	var raw bytes.Buffer
	s := newPcapLink(t, &raw, layers.LinkTypeRaw)
	s.conn("10.0.0.10:40000", "10.0.1.7:80", cl("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	s.conn("[fd00::1]:40000", "[fd00::2]:6379", cl(resp("PING")), sv("+PONG\r\n"))
	r, err := analyzeBytes(t, raw.Bytes(), Options{})
	if err != nil || len(r.Conns) != 2 || r.Conns[0].Protocol != ProtoHTTP1 || r.Conns[1].Protocol != ProtoRedis {
		t.Fatalf("raw IP: %v %+v", err, r.Conns)
	}
	var snapped bytes.Buffer
	s = newPcap(t, &snapped)
	s.snap = 54 + 40 // Ethernet, IPv4 and TCP headers, and 40 payload bytes
	s.conn("10.0.0.10:40000", "10.0.1.7:80", cl("GET /a/long/path HTTP/1.1\r\nHost: a\r\nAuthorization: Basic "+secretToken+"\r\n\r\n"))
	r, err = analyzeBytes(t, snapped.Bytes(), Options{})
	if err != nil || len(r.Conns) != 1 || r.Conns[0].Protocol != ProtoHTTP1 || !strings.Contains(strings.Join(r.Conns[0].Notes, " "), "snap length") {
		t.Fatalf("snapped: %v %+v", err, r.Conns)
	}
}

// Segments out of order and retransmitted reassemble into the same bytes.
func TestAnalyzeReordered(t *testing.T) {
	tlsC, tlsS := shopTLS(t)
	orders := map[string]func([]wseg) []wseg{
		"reversed": func(s []wseg) []wseg { slices.Reverse(s); return s },
		"retransmitted": func(s []wseg) []wseg {
			return append(append([]wseg{}, s...), s...)
		},
		"overlapping": func(s []wseg) []wseg {
			var out []wseg
			for _, g := range s {
				h := len(g.data) / 2
				out = append(out, wseg{g.seq + uint32(h), g.data[h:]}, g)
			}
			return out
		},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			s := newPcap(t, &b)
			s.mss, s.order = 100, order
			s.conn("10.0.0.10:40001", "10.0.1.7:443", msg{true, tlsC}, msg{false, tlsS})
			r, err := analyzeBytes(t, b.Bytes(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Conns) != 1 || r.Conns[0].TLS == nil || r.Conns[0].TLS.Version != "TLS 1.3" {
				t.Fatalf("connections %+v", r.Conns)
			}
		})
	}
}

// Without the handshake, the server is told by its port.
func TestAnalyzeMidstream(t *testing.T) {
	var b bytes.Buffer
	s := newPcap(t, &b)
	s.noSYN = true
	s.conn("10.0.0.10:40000", "10.0.1.7:8080", sv("HTTP/1.1 200 OK\r\n\r\n"), cl("GET /again HTTP/1.1\r\nHost: p\r\n\r\n"))
	r, err := analyzeBytes(t, b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Conns) != 1 || r.Conns[0].Client != "10.0.0.10:40000" || r.Conns[0].Protocol != ProtoHTTP1 {
		t.Fatalf("connections %+v", r.Conns)
	}
}

// Cutting a file anywhere gives an error naming the damage and keeps the
// connections read before it.
func TestAnalyzeTruncated(t *testing.T) {
	var b bytes.Buffer
	s := newPcap(t, &b)
	s.conn("10.0.0.10:40000", "10.0.1.7:8080", cl("GET / HTTP/1.1\r\nHost: p\r\n\r\n"))
	first := b.Len()
	s.conn("10.0.0.10:40001", "10.0.1.7:8080", cl("GET /second HTTP/1.1\r\nHost: p\r\n\r\n"))
	full := b.Bytes()
	for _, cut := range []int{first + 7, first + 20, len(full) - 3} {
		r, err := analyzeBytes(t, full[:cut], Options{})
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "test.pcap: after ") {
			t.Errorf("cut at %d: error %v, want ErrTruncated naming the file", cut, err)
		}
		if len(r.Partial) != 1 || len(r.Conns) == 0 || r.Conns[0].Protocol != ProtoHTTP1 {
			t.Errorf("cut at %d: partial %q, connections %+v", cut, r.Partial, r.Conns)
		}
		if ev, err := r.Evidence(time.Now()); err != nil || ev.Partial == "" {
			t.Errorf("cut at %d: evidence partial %q, %v", cut, ev.Partial, err)
		}
	}
}

func TestOpenBadFiles(t *testing.T) {
	var b bytes.Buffer
	newPcap(t, &b)
	header := b.Bytes()
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":            {nil, "too short for a pcap or pcapng header"},
		"text":             {[]byte("hello, this is not a capture"), "not a pcap or pcapng file (it starts with 68 65 6c 6c)"},
		"pcap bad version": {append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 9, 0}, header[6:]...), "bad pcap header"},
		"pcapng cut":       {[]byte{0x0a, 0x0d, 0x0d, 0x0a, 1, 0, 0}, "bad pcapng header"},
		"gzip garbage":     {[]byte{0x1f, 0x8b, 1, 2, 3}, "gzip"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(c.data), "x.pcap")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.pcap") {
				t.Errorf("error %v, want it to name x.pcap and say %q", err, c.want)
			}
		})
	}
}
