package telemetry

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer records each write to it.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) state() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// Lines logged close together go out in one write, by themselves once the
// delay has passed.
func TestLineBufferBatchesAfterDelay(t *testing.T) {
	var out lockedBuffer
	b := NewLineBuffer(&out, 20*time.Millisecond)
	for i := range 3 {
		fmt.Fprintf(b, "line %d\n", i)
	}
	if got, _ := out.state(); got != "" {
		t.Fatalf("lines written before the delay: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, writes := out.state()
		if got == "line 0\nline 1\nline 2\n" {
			if writes != 1 {
				t.Errorf("%d writes for one batch; want 1", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the output is %q; want the 3 lines", got)
		}
		time.Sleep(5 * time.Millisecond) // polling for the timer's flush
	}
	fmt.Fprintln(b, "line 3") // a new batch arms a new flush
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, writes := out.state(); !strings.HasSuffix(got, "line 3\n") || writes != 2 {
		t.Errorf("after Flush: %q in %d writes; want line 3 in a 2nd write", got, writes)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, writes := out.state(); writes != 2 {
		t.Errorf("Flush of an empty buffer wrote (%d writes)", writes)
	}
}

// A burst is written as soon as it fills a batch, not held for the delay.
func TestLineBufferFullBatchGoesAtOnce(t *testing.T) {
	var out lockedBuffer
	b := NewLineBuffer(&out, time.Hour)
	line := strings.Repeat("x", 1023) + "\n"
	for range flushSize / len(line) {
		b.Write([]byte(line))
	}
	if got, _ := out.state(); len(got) != flushSize {
		t.Errorf("%d bytes written after a full batch; want %d", len(got), flushSize)
	}
}

// Lines from many goroutines reach a real pipe whole and in each writer's
// order, while a slow reader makes writes wait.
func TestLineBufferConcurrentWritersPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	b := NewLineBuffer(w, time.Millisecond)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(b, "writer %d line %d %s\n", g, i, strings.Repeat("y", 100))
			}
		})
	}
	done := make(chan error, 1)
	go func() {
		wg.Wait()
		err := b.Flush()
		w.Close()
		done <- err
	}()
	next := make([]int, writers)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(sc.Text(), "writer %d line %d %s", &g, &i, &pad); err != nil || len(pad) != 100 {
			t.Fatalf("torn line %q", sc.Text())
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for g, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines arrived; want %d", g, n, lines)
		}
	}
}
