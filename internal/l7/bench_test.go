package l7_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/hopseal/hopseal/internal/l7"
	"github.com/hopseal/hopseal/internal/proxy"
)

// BenchmarkHTTP1RoundTrip measures one small keep-alive request and a
// 1 KiB response through ServeHTTP1, against a plain byte relay between
// the same client and upstream: the difference is what L7 costs per
// request. The client and upstream are minimal so the proxy dominates.
func BenchmarkHTTP1RoundTrip(b *testing.B) {
	body := strings.Repeat("x", 1024)
	resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	req := "GET /bench?id=1 HTTP/1.1\r\nHost: app\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
	upstream := cannedServer(b, resp)
	opts := l7.Options{
		Authorize: func(method, path string) (bool, string, string) { return true, "bench", "" },
		Observe:   func(l7.Request) {},
	}
	for _, v := range []struct {
		name  string
		serve serveFunc
	}{
		{"relay", func(c net.Conn, _ []byte, u net.Conn, _ l7.Options) (int64, int64, error) {
			return proxy.Relay(proxy.NewTransport(c), proxy.NewTransport(u))
		}},
		{"l7", func(c net.Conn, p []byte, u net.Conn, o l7.Options) (int64, int64, error) {
			return l7.ServeHTTP1(proxy.NewTransport(c), p, proxy.NewTransport(u), o)
		}},
	} {
		b.Run(v.name, func(b *testing.B) {
			f := startFront(b, upstream, v.serve, opts.Authorize)
			c, err := net.Dial("tcp", f.Addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, len(resp))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := io.WriteString(c, req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			c.Close()
			f.waitDone(b)
		})
	}
}

// cannedServer answers every request head on a connection with resp.
func cannedServer(b *testing.B, resp string) string {
	return rawUpstream(b, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
}

// BenchmarkHTTP2RoundTrip is the same comparison for one HTTP/2 stream at a
// time over a kept connection, with net/http's h2c server as the upstream.
func BenchmarkHTTP2RoundTrip(b *testing.B) {
	body := strings.Repeat("x", 1024)
	up := startUpstream(b, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }, true)
	for _, v := range []struct {
		name  string
		serve serveFunc
	}{
		{"relay", func(c net.Conn, _ []byte, u net.Conn, _ l7.Options) (int64, int64, error) {
			return proxy.Relay(proxy.NewTransport(c), proxy.NewTransport(u))
		}},
		{"l7", func(c net.Conn, p []byte, u net.Conn, o l7.Options) (int64, int64, error) {
			return l7.ServeHTTP2(proxy.NewTransport(c), p, proxy.NewTransport(u), o)
		}},
	} {
		b.Run(v.name, func(b *testing.B) {
			f := startFront(b, up.Addr, v.serve, allowAll)
			tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}}
			client := &http.Client{Transport: tr}
			url := "http://" + f.Addr + "/bench"
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.StopTimer()
			tr.CloseIdleConnections()
			f.waitDone(b)
		})
	}
}
