package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process whose output is kept for log lines and errors:
// the first outputHead bytes (start-up lines, the first connections) and
// the last outputTail bytes, since proxies log every connection and request.
type proc struct {
	name    string
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     bytes.Buffer
	tail    []byte
	dropped int64
	done    chan struct{}
}

const (
	outputHead = 4 << 20
	outputTail = 64 << 10
)

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	if room := outputHead - p.out.Len(); room > 0 {
		k := min(room, len(b))
		p.out.Write(b[:k])
		b = b[k:]
	}
	if len(b) > 0 {
		p.dropped += int64(len(b))
		p.tail = append(p.tail, b...)
		if len(p.tail) > 2*outputTail { // trimmed now and then, not per line: a line is small
			p.tail = append(p.tail[:0], p.tail[len(p.tail)-outputTail:]...)
		}
	}
	return n, nil
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped == 0 {
		return p.out.String()
	}
	tail := p.tail[max(len(p.tail)-outputTail, 0):]
	return p.out.String() + fmt.Sprintf("\n[… %d bytes, of which the last %d follow …]\n", p.dropped, len(tail)) + string(tail)
}

// start runs a process in dir with extra environment variables; stop (or
// the runner's cleanup) ends it.
func start(dir string, env []string, name string, args ...string) (*proc, error) {
	p := &proc{name: filepath.Base(name), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after 5 s, and waits.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// logLine waits for a JSON log line whose msg is msg and returns its fields.
func (p *proc) logLine(ctx context.Context, msg string, timeout time.Duration) (map[string]any, error) {
	var found map[string]any
	err := poll(ctx, timeout, func() (bool, error) {
		sc := bufio.NewScanner(strings.NewReader(p.output()))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
				found = m
				return true, nil
			}
		}
		select {
		case <-p.done:
			return false, fmt.Errorf("%s exited before logging %q", p.name, msg)
		default:
			return false, nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n%s output:\n%s", err, p.name, p.output())
	}
	return found, nil
}

// textLine waits for an output line containing substr and returns it.
func (p *proc) textLine(ctx context.Context, substr string, timeout time.Duration) (string, error) {
	var line string
	err := poll(ctx, timeout, func() (bool, error) {
		for l := range strings.Lines(p.output()) {
			if strings.Contains(l, substr) {
				line = strings.TrimSpace(l)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return "", fmt.Errorf("%w: %s never printed %q; output:\n%s", err, p.name, substr, p.output())
	}
	return line, nil
}

// poll calls cond every 10 ms until it holds, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// run runs a command to completion and returns its stdout.
func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// cpuTime is the user+system CPU time of a process and all its threads,
// from /proc/<pid>/stat (clock ticks of 10 ms).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may itself hold spaces.
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, nil
}

// threadCPU is the CPU time of a process's live threads in nanoseconds,
// from /proc/<pid>/task/*/schedstat: precise, but blind to threads that
// have exited, so it suits short windows in which no thread ends.
func threadCPU(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/task/%s/schedstat: %q", pid, t.Name(), data)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
