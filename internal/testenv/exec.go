package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Exec says how to run hopseal: which binary, with which extra environment
// (e.g. GODEBUG=fips140=only). The zero value runs Binary(t) as is.
type Exec struct {
	Bin string
	Env []string
}

func (e Exec) bin(t testing.TB) string {
	if e.Bin != "" {
		return e.Bin
	}
	return Binary(t)
}

// proxyBin is the binary for proxies and init-net: hopseal-proxy, as
// sidecars run it, unless Bin names another.
func (e Exec) proxyBin(t testing.TB) string {
	if e.Bin != "" {
		return e.Bin
	}
	return ProxyBinary(t)
}

// Start runs hopseal with args in dir until test cleanup. Extra environment
// goes through env(1), which execs in place, so signals reach hopseal itself.
func (e Exec) Start(t testing.TB, dir string, args ...string) *Proc {
	t.Helper()
	if len(e.Env) == 0 {
		return Start(t, dir, e.bin(t), args...)
	}
	full := append(append(append([]string{}, e.Env...), e.bin(t)), args...)
	return Start(t, dir, "env", full...)
}

// Output runs hopseal to completion and returns stdout and stderr apart:
// commands such as `ca token create` print their result on stdout only.
func (e Exec) Output(t testing.TB, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), e.Env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// MustOutput is Output that fails the test when hopseal exits non-zero.
func (e Exec) MustOutput(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := e.Output(t, dir, args...)
	if err != nil {
		t.Fatalf("hopseal %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}
