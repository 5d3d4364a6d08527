package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// These methods take the calling test's t rather than the one the process
// was started with, so subtests can wait on a process their parent owns.

// WaitLogLines waits until the process has logged at least n JSON lines with
// this msg and returns all of them.
func (p *Proc) WaitLogLines(t testing.TB, msg string, n int, timeout time.Duration) []map[string]any {
	t.Helper()
	var lines []map[string]any
	Eventually(t, timeout, fmt.Sprintf("%d log lines %q", n, msg), func() bool {
		lines = p.LogLines(msg)
		return len(lines) >= n
	})
	return lines
}

// WaitLogMatch waits for a JSON line with this msg for which match holds.
func (p *Proc) WaitLogMatch(t testing.TB, msg string, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	Eventually(t, timeout, "a matching log line "+msg, func() bool {
		for _, l := range p.LogLines(msg) {
			if match(l) {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

// WaitOutput waits until the process output contains s.
func (p *Proc) WaitOutput(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("output %q", s), func() bool {
		return strings.Contains(p.Output(), s)
	})
}

// Str is a log field as a string ("" when absent or not a string).
func Str(line map[string]any, key string) string {
	s, _ := line[key].(string)
	return s
}

// Num is a numeric log field (JSON numbers decode as float64).
func Num(line map[string]any, key string) float64 {
	n, _ := line[key].(float64)
	return n
}

// LogLines returns every JSON log line with the given msg so far.
func (p *Proc) LogLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
