package proxy_test

// Benchmarks of a proxy pair in one process, side by side:
//
//	app ─► proxy A (outbound) ─► proxy B (inbound) ─► sink
//
// "plaintext" relays plain TCP on both hops; "mtls" runs hopseal's mutual
// TLS 1.3 between A and B, with the configuration hopseal ships (tlsconf)
// and certificates from an in-memory CA. Every hop is a real loopback TCP
// socket. Run with:
//
//	go test ./internal/proxy -run '^$' -bench Pair -benchmem
//
// Allocations per op are counted process-wide, so they include both relays.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

const (
	benchClientID = "spiffe://bench.test/client"
	benchServerID = "spiffe://bench.test/server"
)

// BenchmarkPairBulk pushes 64 KiB writes one way through the pair.
func BenchmarkPairBulk(b *testing.B) {
	for _, mode := range []string{"plaintext", "mtls"} {
		b.Run(mode, func(b *testing.B) {
			sink := benchStartSink(b)
			c := benchDialPair(b, mode, sink.addr)
			chunk := make([]byte, 64<<10)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchStartCPU()
			for range b.N {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
			got := <-sink.total
			b.StopTimer()
			cpu.report(b, float64(got), "cpu-ns/B")
			if want := int64(b.N) * int64(len(chunk)); got != want {
				b.Fatalf("sink received %d bytes, want %d", got, want)
			}
		})
	}
}

// BenchmarkPairRoundTrip sends a 1 KiB request and waits for the 1 KiB echo:
// the latency a request pays for crossing the pair both ways.
func BenchmarkPairRoundTrip(b *testing.B) {
	for _, mode := range []string{"plaintext", "mtls"} {
		b.Run(mode, func(b *testing.B) {
			c := benchDialPair(b, mode, benchStartEcho(b))
			msg, reply := make([]byte, 1024), make([]byte, 1024)
			for i := range msg {
				msg[i] = byte(i)
			}
			b.SetBytes(2 * int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchStartCPU()
			for range b.N {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, reply); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu.report(b, float64(b.N), "cpu-ns/op")
			if string(reply) != string(msg) {
				b.Fatal("echo differs from the request")
			}
		})
	}
}

// BenchmarkPairParallel runs 8 bulk streams at once through one pair.
func BenchmarkPairParallel(b *testing.B) {
	const streams = 8
	for _, mode := range []string{"plaintext", "mtls"} {
		b.Run(mode+"/streams="+strconv.Itoa(streams), func(b *testing.B) {
			sink := benchStartSink(b)
			addr := benchStartPair(b, mode, sink.addr)
			conns := make([]net.Conn, streams)
			for i := range conns {
				conns[i] = benchDial(b, addr)
			}
			chunk := make([]byte, 64<<10)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchStartCPU()
			var wg sync.WaitGroup
			for i, c := range conns {
				n := b.N / streams
				if i < b.N%streams {
					n++
				}
				wg.Go(func() {
					for range n {
						if _, err := c.Write(chunk); err != nil {
							b.Error(err)
							return
						}
					}
					c.(*net.TCPConn).CloseWrite()
				})
			}
			wg.Wait()
			var got int64
			for range conns {
				got += <-sink.total
			}
			b.StopTimer()
			cpu.report(b, float64(got), "cpu-ns/B")
			if want := int64(b.N) * int64(len(chunk)); got != want {
				b.Fatalf("sink received %d bytes, want %d", got, want)
			}
		})
	}
}

// benchCPU measures the CPU time of the whole process (app, both proxies
// and sink): on a shared machine it is steadier than wall time.
type benchCPU time.Duration

func benchStartCPU() benchCPU { return benchCPU(benchProcessCPU()) }

func (c benchCPU) report(b *testing.B, per float64, unit string) {
	if per > 0 {
		b.ReportMetric(float64(benchProcessCPU()-time.Duration(c))/per, unit)
	}
}

func benchProcessCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDialPair starts a pair in front of target and connects to it.
func benchDialPair(b testing.TB, mode, target string) net.Conn {
	return benchDial(b, benchStartPair(b, mode, target))
}

func benchDial(b testing.TB, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// benchStartPair runs proxy B in front of target and proxy A in front of B, and
// returns A's address. obs, if not nil, sees the flows of both.
func benchStartPair(b testing.TB, mode, target string, obs ...proxy.Observer) string {
	plain := func(c net.Conn) (net.Conn, error) { return c, nil }
	secureIn, secureOut := plain, plain
	switch mode {
	case "plaintext":
	case "mtls":
		secureIn, secureOut = benchMTLS(b)
	default:
		b.Fatalf("unknown mode %q", mode)
	}
	var o proxy.Observer
	if len(obs) > 0 {
		o = obs[0]
	}
	bAddr := benchStartProxy(b, proxy.Inbound, secureIn, plain, target, o)
	return benchStartProxy(b, proxy.Outbound, plain, secureOut, bAddr, o)
}

// benchMTLS returns the server-side and client-side TLS wrappers. The
// client layers TLS on a Transport, as hopseal's outbound side does; the
// proxy hands the server side one.
func benchMTLS(b testing.TB) (server, client func(net.Conn) (net.Conn, error)) {
	ca := testpki.New(b, "bench.test")
	serverSVID, clientSVID := ca.Issue(benchServerID, time.Hour), ca.Issue(benchClientID, time.Hour)
	srv := tlsconf.MTLSServer(serverSVID, ca.Bundle(), tlsconf.AuthorizeAny(), time.Now)
	cli := tlsconf.MTLSClient(clientSVID, ca.Bundle(), tlsconf.AuthorizeID(serverSVID.ID), time.Now)
	server = func(c net.Conn) (net.Conn, error) {
		tc := tls.Server(c, srv)
		return tc, tc.Handshake()
	}
	client = func(c net.Conn) (net.Conn, error) {
		tc := tls.Client(proxy.NewTransport(c), cli)
		return tc, tc.Handshake()
	}
	return server, client
}

// benchStartProxy serves one listener whose accepted connections pass through
// secureAccept and whose upstream connections to target pass through
// secureDial. It stops at cleanup.
func benchStartProxy(b testing.TB, dir proxy.Direction, secureAccept, secureDial func(net.Conn) (net.Conn, error), target string, obs proxy.Observer) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := proxy.New(proxy.Options{DrainTimeout: time.Second, Observer: obs})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Serve(ctx, proxy.Listener{
			Name: string(dir), Direction: dir, Listener: ln, Open: proxy.Steps{
				Accept: func(_ context.Context, c net.Conn) (net.Conn, proxy.Peer, error) {
					sc, err := secureAccept(c)
					return sc, proxy.Peer{}, err
				},
				Dial: func(ctx context.Context) (net.Conn, string, proxy.Peer, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
					if err != nil {
						return nil, target, proxy.Peer{}, err
					}
					sc, err := secureDial(c)
					if err != nil {
						c.Close()
					}
					return sc, target, proxy.Peer{}, err
				},
			}.Open})
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("proxy %s: %v", dir, err)
		}
	})
	return ln.Addr().String()
}

type benchSink struct {
	addr  string
	total chan int64 // bytes received by each connection, sent at its EOF
}

// benchStartSink accepts connections and discards what they send.
func benchStartSink(b testing.TB) *benchSink {
	ln := benchListen(b)
	s := &benchSink{addr: ln.Addr().String(), total: make(chan int64, 64)}
	go benchServe(ln, func(c net.Conn) {
		buf := make([]byte, 256<<10)
		var n int64
		for {
			nr, err := c.Read(buf)
			n += int64(nr)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					n = -1
				}
				s.total <- n
				return
			}
		}
	})
	return s
}

// benchStartEcho accepts connections and echoes them.
func benchStartEcho(b testing.TB) string {
	ln := benchListen(b)
	go benchServe(ln, func(c net.Conn) {
		buf := make([]byte, 16<<10)
		for {
			n, err := c.Read(buf)
			if _, werr := c.Write(buf[:n]); err != nil || werr != nil {
				return
			}
		}
	})
	return ln.Addr().String()
}

func benchListen(b testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	return ln
}

func benchServe(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// The benchmarks measure the relay's fast path: read-ahead and batched
// records over a Transport. The tests below check that this path carries
// bytes exactly, passes half-closes and reports errors.

func TestPairCarriesBytesExactly(t *testing.T) {
	cases := []struct {
		name  string
		mode  string
		sizes []int // one round of write sizes, repeated
	}{
		{"plaintext", "plaintext", []int{1, 1000, 70000}},
		{"mtls small writes", "mtls", []int{1, 7, 1000}},
		{"mtls around a record", "mtls", []int{16383, 16384, 16385}},
		{"mtls around a batch", "mtls", []int{65535, 65536, 65537, 300000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flows := make(chan proxy.Flow, 2)
			c := benchDial(t, benchStartPair(t, tc.mode, benchStartEcho(t), benchFlows(flows)))
			sent := make(chan []byte, 1)
			go func() {
				h := sha256.New()
				r := rand.New(rand.NewPCG(1, 2))
				for range 8 {
					for _, n := range tc.sizes {
						b := make([]byte, n)
						for i := range b {
							b[i] = byte(r.Uint32())
						}
						h.Write(b)
						if _, err := c.Write(b); err != nil {
							t.Error(err)
							break
						}
					}
				}
				c.(*net.TCPConn).CloseWrite()
				sent <- h.Sum(nil)
			}()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			h := sha256.New()
			got, err := io.Copy(h, c)
			if err != nil {
				t.Fatalf("read the echo: %v", err)
			}
			if !bytes.Equal(h.Sum(nil), <-sent) {
				t.Fatalf("the echo of %d bytes differs from what was sent", got)
			}
			want := int64(0)
			for _, n := range tc.sizes {
				want += 8 * int64(n)
			}
			if got != want {
				t.Fatalf("echo has %d bytes, want %d", got, want)
			}
			for range 2 {
				f := benchNextFlow(t, flows)
				if f.BytesUp != want || f.BytesDown != want || f.Reason != "" {
					t.Errorf("%s flow: up %d, down %d, reason %q; want %d both ways and no reason", f.Direction, f.BytesUp, f.BytesDown, f.Reason, want)
				}
			}
		})
	}
}

// The app ends its side first; the client must still be able to send.
func TestPairPassesHalfClose(t *testing.T) {
	for _, mode := range []string{"plaintext", "mtls"} {
		t.Run(mode, func(t *testing.T) {
			received := make(chan int64, 1)
			ln := benchListen(t)
			go benchServe(ln, func(c net.Conn) {
				c.Write([]byte("hello"))
				c.(*net.TCPConn).CloseWrite()
				n, _ := io.Copy(io.Discard, c)
				received <- n
			})
			c := benchDial(t, benchStartPair(t, mode, ln.Addr().String()))
			c.SetDeadline(time.Now().Add(30 * time.Second))
			greeting, err := io.ReadAll(c) // ends at the app's half-close
			if err != nil || string(greeting) != "hello" {
				t.Fatalf("read %q, %v; want hello and a clean end", greeting, err)
			}
			const n = 200_000
			if _, err := c.Write(make([]byte, n)); err != nil {
				t.Fatalf("write after the app's half-close: %v", err)
			}
			c.(*net.TCPConn).CloseWrite()
			select {
			case got := <-received:
				if got != n {
					t.Fatalf("app received %d bytes, want %d", got, n)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the app never saw the client's half-close")
			}
		})
	}
}

// An app that resets its connection ends the flow with the reason.
func TestPairReportsUpstreamReset(t *testing.T) {
	for _, mode := range []string{"plaintext", "mtls"} {
		t.Run(mode, func(t *testing.T) {
			ln := benchListen(t)
			go benchServe(ln, func(c net.Conn) {
				c.Read(make([]byte, 1))
				c.(*net.TCPConn).SetLinger(0)
			})
			flows := make(chan proxy.Flow, 2)
			c := benchDial(t, benchStartPair(t, mode, ln.Addr().String(), benchFlows(flows)))
			c.Write([]byte("x"))
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("client read: %v; want the flow to end", err)
			}
			c.Close() // the outbound flow waits for the client's side too
			for range 2 {
				if f := benchNextFlow(t, flows); f.Direction == proxy.Inbound && !strings.Contains(f.Reason, "connection reset by peer") {
					t.Errorf("inbound flow reason %q; want the app's reset", f.Reason)
				}
			}
		})
	}
}

// A read deadline interrupts a Transport's read without breaking it.
func TestTransportReadDeadline(t *testing.T) {
	ln := benchListen(t)
	peer := make(chan net.Conn, 1)
	go benchServe(ln, func(c net.Conn) { peer <- c; time.Sleep(time.Hour) })
	tr := proxy.NewTransport(benchDial(t, ln.Addr().String()))
	p := <-peer
	tr.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var ne net.Error
	if _, err := tr.Read(make([]byte, 8)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v; want a timeout", err)
	}
	tr.SetReadDeadline(time.Time{})
	p.Write([]byte("after"))
	buf := make([]byte, 8)
	n, err := tr.Read(buf)
	if err != nil || string(buf[:n]) != "after" {
		t.Fatalf("read after the deadline was lifted: %q, %v; want \"after\"", buf[:n], err)
	}
}

type benchFlows chan proxy.Flow

func (benchFlows) FlowStarted(proxy.Flow)   {}
func (c benchFlows) FlowEnded(f proxy.Flow) { c <- f }

func benchNextFlow(t *testing.T, flows chan proxy.Flow) proxy.Flow {
	t.Helper()
	select {
	case f := <-flows:
		return f
	case <-time.After(30 * time.Second):
		t.Fatal("no flow ended within 30s")
		return proxy.Flow{}
	}
}
