// Package testenv holds harnesses for tests that run real processes and
// real tools: the hopseal binary, peers such as openssl, and packet captures.
//
// Tests that need root or a tool skip loudly in a plain `go test`; with
// HOPSEAL_TEST_STRICT=1 (set by scripts/test.sh and CI) a missing
// prerequisite fails the test instead, so nothing is skipped silently there.
package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Strict reports whether missing prerequisites must fail tests.
func Strict() bool { return os.Getenv("HOPSEAL_TEST_STRICT") == "1" }

// Skip skips the test, or fails it in strict mode.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("prerequisite missing (HOPSEAL_TEST_STRICT=1): %s", msg)
	}
	t.Skipf("SKIPPED: %s (run scripts/test.sh to install prerequisites and run everything)", msg)
}

// RequireTool skips unless each named program is on PATH.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Skip(t, "%s is not installed", n)
		}
	}
}

// RequireRoot skips unless running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root")
	}
}

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Proc is a running process whose output is kept for assertions.
type Proc struct {
	t   testing.TB
	Cmd *exec.Cmd
	// StopSignal is what Stop sends first (default SIGINT); set it before
	// the test ends for a daemon that ignores SIGINT (mariadbd, Exim).
	StopSignal os.Signal
	out        Buffer
	done       chan struct{}
	err        error
}

// Start runs name with args in dir; the process is killed at test cleanup.
func Start(t testing.TB, dir, name string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, done: make(chan struct{})}
	p.Cmd = exec.Command(name, args...)
	p.Cmd.Dir = dir
	p.Cmd.Stdout, p.Cmd.Stderr = &p.out, &p.out
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(name), strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Stop sends SIGTERM, then SIGKILL after 5 s, and waits.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	sig := p.StopSignal
	if sig == nil {
		sig = os.Interrupt
	}
	p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
}

// Kill kills the process at once (a crash).
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// Wait waits for the process to exit and returns its error.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("process still running after %s", timeout)
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Eventually polls cond every 10 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitDial waits until addr accepts TCP connections.
func WaitDial(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "a listener on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// FreePort returns a loopback address with a port that was free just now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Run runs a command to completion and returns its combined output.
func Run(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// EchoServer starts a TCP server that echoes every byte back; it stops at
// test cleanup and returns its address.
func EchoServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}
