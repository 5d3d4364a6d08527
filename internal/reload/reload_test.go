package reload

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

const wait = 5 * time.Second

// fixture is a watched file whose valid content (not empty, not starting
// with "bad") becomes current. In-place writes can be seen half done (empty),
// so tests that count log lines replace the file atomically.
type fixture struct {
	path    string
	current atomic.Pointer[string]
	applied atomic.Int32
	logs    *testenv.Buffer
	w       *Watcher
}

func newFixture(t *testing.T, content string, every time.Duration) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "watched.yaml"), logs: &testenv.Buffer{}}
	f.write(t, content)
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.w = New(f.path, every, f.apply, log)
	return f
}

func (f *fixture) apply(data []byte) error {
	if strings.HasPrefix(string(data), "bad") {
		return errors.New("content starts with bad")
	}
	if len(data) == 0 {
		return errors.New("file is empty")
	}
	s := string(data)
	f.current.Store(&s)
	f.applied.Add(1)
	return nil
}

func (f *fixture) get() string {
	if p := f.current.Load(); p != nil {
		return *p
	}
	return ""
}

func (f *fixture) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(f.path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replace writes content to a new file and renames it over the old one.
func (f *fixture) replace(t *testing.T, content string, mtime time.Time) {
	t.Helper()
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, f.path); err != nil {
		t.Fatal(err)
	}
}

// run starts Run and stops it (and waits for it) at cleanup.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	testenv.Eventually(t, wait, "the first version applied", func() bool { return f.get() != "" })
}

func (f *fixture) waitFor(t *testing.T, want string) {
	t.Helper()
	testenv.Eventually(t, wait, "content "+want, func() bool { return f.get() == want })
}

func TestWatchAppliesChanges(t *testing.T) {
	f := newFixture(t, "v1", 5*time.Millisecond)
	f.run(t)
	if got := f.get(); got != "v1" {
		t.Fatalf("initial content %q", got)
	}
	f.write(t, "v2 is longer")
	f.waitFor(t, "v2 is longer")
	f.write(t, "v3 is longer") // same size, same inode: only mtime or content tells
	f.waitFor(t, "v3 is longer")
	if n := f.logs.Count(`"msg":"file reloaded"`); n != 2 {
		t.Fatalf("%d reload log lines, want 2:\n%s", n, f.logs)
	}
}

func TestWatchRenameReplace(t *testing.T) {
	f := newFixture(t, "v1", 5*time.Millisecond)
	f.run(t)
	f.replace(t, "v2", time.Time{})
	f.waitFor(t, "v2")
}

func TestWatchKeepsStateOnInvalidFile(t *testing.T) {
	f := newFixture(t, "v1", 5*time.Millisecond)
	f.run(t)
	f.replace(t, "bad version", time.Time{})
	testenv.Eventually(t, wait, "the invalid file logged", func() bool {
		return f.logs.Count("file changed but is not valid") > 0
	})
	for range 3 {
		f.w.check(false)
	}
	if got := f.get(); got != "v1" {
		t.Fatalf("content %q after an invalid file, want v1 kept", got)
	}
	if n := f.logs.Count("file changed but is not valid"); n != 1 || !strings.Contains(f.logs.String(), "content starts with bad") {
		t.Fatalf("want one log line naming the problem, got %d:\n%s", n, f.logs)
	}
	f.write(t, "v3")
	f.waitFor(t, "v3")
}

func TestWatchKeepsStateWhenDeleted(t *testing.T) {
	f := newFixture(t, "v1", 5*time.Millisecond)
	f.run(t)
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, wait, "the missing file logged", func() bool {
		return f.logs.Count("cannot read the file") > 0
	})
	for range 3 {
		f.w.check(false)
	}
	if got, n := f.get(), f.logs.Count("cannot read the file"); got != "v1" || n != 1 {
		t.Fatalf("content %q and %d log lines after deletion, want v1 and 1:\n%s", got, n, f.logs)
	}
	f.replace(t, "v2", time.Time{})
	f.waitFor(t, "v2")
}

func TestWatchRevertAfterInvalid(t *testing.T) {
	f := newFixture(t, "v1", time.Hour)
	if err := f.w.Load(); err != nil {
		t.Fatal(err)
	}
	f.replace(t, "bad", time.Time{})
	f.w.check(false)
	f.replace(t, "v1", time.Time{})
	f.w.check(false)
	if got, n := f.get(), f.applied.Load(); got != "v1" || n != 1 || f.logs.Count("back to the version in force") != 1 {
		t.Fatalf("content %q applied %d times, logs:\n%s", got, n, f.logs)
	}
}

func TestTriggerChecksNow(t *testing.T) {
	f := newFixture(t, "v1", time.Hour)
	f.run(t)
	f.replace(t, "v2", time.Time{})
	f.w.Trigger() // without it, the next check is an hour away
	f.waitFor(t, "v2")
	f.w.Trigger() // unchanged: nothing applied again
	f.replace(t, "v3", time.Time{})
	f.w.Trigger()
	f.waitFor(t, "v3")
	if n := f.applied.Load(); n != 3 {
		t.Fatalf("applied %d times, want 3 (v1, v2, v3)", n)
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	f := newFixture(t, "v1", 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, f.path, 5*time.Millisecond, f.apply, nil) }()
	testenv.Eventually(t, wait, "the first version applied", func() bool { return f.get() == "v1" })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch returned %v after cancel, want nil", err)
		}
	case <-time.After(wait):
		t.Fatal("Watch still running after cancel")
	}
}

func TestWatchInitialErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("bad"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, wantErr string }{
		{"missing", filepath.Join(dir, "missing"), "no such file"},
		{"invalid", bad, "content starts with bad"},
		{"too big", big, "over the 16777216-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fixture{}
			err := Watch(context.Background(), tt.path, time.Millisecond, f.apply, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("error = %v, want it to name %s and contain %q", err, tt.path, tt.wantErr)
			}
			if f.applied.Load() != 0 {
				t.Fatal("a rejected file was applied")
			}
		})
	}
}
