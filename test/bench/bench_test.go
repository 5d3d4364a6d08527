package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUpdateDoc(t *testing.T) {
	beginMarker, endMarker := markers("transparent")
	otherBegin, otherEnd := markers("loopback")
	other := otherBegin + "\nloopback table\n" + otherEnd + "\n"
	const notes = "\nnotes\n"
	valid := "# Benchmarks\n" + other + beginMarker + "\nold table\n" + endMarker + notes
	cases := []struct {
		name    string
		doc     string
		want    string // "" when an error is expected
		wantErr string
	}{
		{"replaces only its block", valid, "# Benchmarks\n" + other + beginMarker + "\nnew table\n" + endMarker + notes, ""},
		{"no begin marker", strings.Replace(valid, beginMarker, "", 1), "", "add the two markers"},
		{"no end marker", strings.Replace(valid, endMarker, "", 1), "", "add the two markers"},
		{"only another topology's markers", "# B\n" + other, "", "bench:transparent:begin"},
		{"markers swapped", "# B\n" + endMarker + "\nx\n" + beginMarker + "\n", "", "add the two markers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "benchmarks.md")
			if err := os.WriteFile(file, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			err := updateDoc(file, "transparent", "new table\n")
			got, _ := os.ReadFile(file)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tc.wantErr)
				}
				if string(got) != tc.doc {
					t.Fatalf("the file changed despite the error:\n%s", got)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("err = %v, file:\n%s\nwant:\n%s", err, got, tc.want)
			}
		})
	}
}

// The /proc readers see this process's own CPU time and memory.
func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	before, err := threadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the counter shows 10 ms more, or give up after 5 s.
	after := before
	for deadline := time.Now().Add(5 * time.Second); after-before < 10*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("threadCPU went from %s to %s over 5 s of spinning; want 10 ms more", before, after)
		}
		if after, err = threadCPU(pid); err != nil {
			t.Fatal(err)
		}
	}
	if cpu, err := cpuTime(pid); err != nil || cpu <= 0 {
		t.Fatalf("cpuTime = %s, %v; want > 0", cpu, err)
	}
	if rss, err := peakRSS(pid); err != nil || rss < 1<<20 {
		t.Fatalf("peakRSS = %d, %v; want at least 1 MiB", rss, err)
	}
}

func TestPercentileAndMedian(t *testing.T) {
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 100}
	if got := percentile(sorted, 50); got != 5 {
		t.Errorf("p50 = %d, want 5", got)
	}
	if got := percentile(sorted, 99); got != 9 {
		t.Errorf("p99 of 10 samples = %d, want 9 (index 8.91 rounds down)", got)
	}
	if got := percentile(sorted, 100); got != 100 {
		t.Errorf("p100 = %d, want 100", got)
	}
	get := func(s sample) float64 { return s.handshakes }
	odd := []sample{{handshakes: 3}, {handshakes: 1}, {handshakes: 2}}
	if got := median(odd, get); got != 2 {
		t.Errorf("median of 3, 1, 2 = %v, want 2", got)
	}
	if got := median(odd[:2], get); got != 2 {
		t.Errorf("median of 3, 1 = %v, want 2", got)
	}
}
