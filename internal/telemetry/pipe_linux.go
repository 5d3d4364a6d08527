package telemetry

import (
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A proxy logs a line per connection and per HTTP request, usually into a
// pipe (a container runtime's or a supervisor's). An ordinary write(2)
// goes through the Go runtime's syscall path, which, when the process was
// idle a moment before, wakes the runtime's monitor thread: on every line
// at a steady request rate, which cost more CPU than parsing the request
// the line describes. pipeWriter writes a line with a raw write(2) when
// the pipe has room for all of it, so the call cannot block; otherwise,
// and after any error, it writes through the file as before (blocking
// until the reader catches up, and failing as before on a closed pipe).

type pipeWriter struct {
	mu   sync.Mutex
	f    *os.File
	fd   uintptr
	size int // the pipe's capacity
}

// forPipe returns a pipeWriter for w if it is a pipe, else w.
func forPipe(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return w
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return w
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return w
	}
	pw := &pipeWriter{f: f}
	sc.Control(func(fd uintptr) { pw.fd = fd })
	size, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, pw.fd, unix.F_GETPIPE_SZ, 0)
	if errno != 0 {
		return w
	}
	pw.size = int(size)
	return pw
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > 0 && w.fits(len(p)) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, w.fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if errno == 0 && int(n) == len(p) {
			return len(p), nil
		}
		if errno == 0 {
			p = p[n:] // only the rest goes the ordinary way
			m, err := w.f.Write(p)
			return int(n) + m, err
		}
	}
	return w.f.Write(p)
}

// fits reports whether n more bytes fit in the pipe now.
func (w *pipeWriter) fits(n int) bool {
	var queued int32
	_, _, errno := syscall.RawSyscall(syscall.SYS_IOCTL, w.fd, unix.TIOCINQ, uintptr(unsafe.Pointer(&queued)))
	return errno == 0 && w.size-int(queued) >= n
}
