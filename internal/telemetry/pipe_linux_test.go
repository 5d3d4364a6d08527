package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestForPipeKeepsOtherWriters(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, w := range []io.Writer{&bytes.Buffer{}, file} {
		if got := forPipe(w); got != w {
			t.Errorf("forPipe(%T) = %T; want the writer itself", w, got)
		}
	}
}

// Lines reach a pipe's reader whole and in order, also when the pipe is
// full and writes must wait for the reader.
func TestPipeWriterFullPipe(t *testing.T) {
	r, w := pipe(t)
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatal(err)
	}
	pw, ok := forPipe(w).(*pipeWriter)
	if !ok {
		t.Fatal("forPipe did not recognise a pipe")
	}
	var want bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&want, "line %03d %s\n", i, bytes.Repeat([]byte{'a' + byte(i%26)}, 700))
	}
	errc := make(chan error, 1)
	go func() {
		for line := range bytes.Lines(want.Bytes()) {
			if _, err := pw.Write(line); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Close()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the reader got %d bytes that differ from the %d written", len(got), want.Len())
	}
}

// A pipe whose reader is gone fails the write, as the file's own Write does.
func TestPipeWriterClosedReader(t *testing.T) {
	r, w := pipe(t)
	pw := forPipe(w)
	r.Close()
	if _, err := pw.Write([]byte("lost\n")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write to a pipe without a reader: %v; want EPIPE", err)
	}
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}
