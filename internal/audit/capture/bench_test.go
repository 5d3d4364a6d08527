package capture

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
)

// benchCapture writes a large capture: connections with a TLS handshake
// and a bulk download, every fourth one plaintext HTTP instead. Its size
// is HOPSEAL_CAPTURE_BENCH_MB MiB (default 64).
func benchCapture(b *testing.B) (path string, packets int64, size int64) {
	b.Helper()
	mb := 64
	if v, err := strconv.Atoi(os.Getenv("HOPSEAL_CAPTURE_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	tlsC, tlsS := shopTLS(b)
	bulk := make([]byte, 32<<10)
	rand.Read(bulk)
	path = filepath.Join(b.TempDir(), "bench.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	s := newPcap(b, w)
	write := s.write
	s.write = func(ci gopacket.CaptureInfo, data []byte) error {
		packets++
		size += int64(len(data)) + 16
		return write(ci, data)
	}
	for i := 0; size < int64(mb)<<20; i++ {
		client := fmt.Sprintf("10.1.%d.%d:%d", i/250%250, i%250+1, 40000+i%20000)
		if i%4 == 3 {
			s.conn(client, "10.2.0.7:8080", cl("GET /report HTTP/1.1\r\nHost: reports\r\n\r\n"),
				msg{false, append([]byte("HTTP/1.1 200 OK\r\nContent-Length: 32768\r\n\r\n"), bulk...)})
			continue
		}
		s.conn(client, "10.2.0.8:443", msg{true, tlsC}, msg{false, append(append([]byte{}, tlsS...), bulk...)})
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path, packets, size
}

// BenchmarkAnalyzeVsTshark classifies a large capture, and runs
// `tshark -q -z conv,tcp` (which only lists conversations) on the same
// file once for comparison: tshark-s is its time, speedup how many times
// faster this analysis is.
func BenchmarkAnalyzeVsTshark(b *testing.B) {
	path, packets, size := benchCapture(b)
	tshark := runTshark(b, path)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		src, err := OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		a := NewAnalyzer(Options{})
		if err := a.Run(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		src.Close()
		if r := a.Result(); r.Stats.Packets != packets {
			b.Fatalf("read %d packets of %d", r.Stats.Packets, packets)
		}
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(packets)/perOp, "packets/s")
	if tshark > 0 {
		b.ReportMetric(tshark.Seconds(), "tshark-s")
		b.ReportMetric(tshark.Seconds()/perOp, "speedup")
	}
}

// runTshark times tshark over the file, or says loudly that it cannot.
func runTshark(b *testing.B, path string) time.Duration {
	b.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		b.Logf("SKIPPED the tshark comparison: tshark is not installed (Debian package tshark)")
		fmt.Fprintln(os.Stderr, "BenchmarkAnalyzeVsTshark: SKIPPED the tshark comparison: tshark is not installed")
		return 0
	}
	start := time.Now()
	out, err := exec.Command("tshark", "-r", path, "-q", "-z", "conv,tcp").CombinedOutput()
	if err != nil {
		b.Fatalf("tshark: %v\n%s", err, out)
	}
	return time.Since(start)
}
