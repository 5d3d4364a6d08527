package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// UserDir creates a directory owned by c (mode 0700) for a process that
// StartAs runs: its config, tokens, sockets and data. It is removed at
// test cleanup. Its parent is the system temp directory, which every user
// can traverse, unlike t.TempDir().
func UserDir(t testing.TB, c Cred) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hopseal-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, int(c.UID), int(c.GID)); err != nil {
		t.Fatalf("chown %s to %d:%d: %v", dir, c.UID, c.GID, err)
	}
	return dir
}

// Reachable lets every user reach path, such as Binary(t) for a process
// that StartAs runs: it adds search permission to each directory from the
// system temp directory down to path (test directories are 0700), and read
// (and, for a program, execute) permission to path itself. Outside the temp
// directory it changes nothing: the test fails if other users cannot reach
// path.
func Reachable(t testing.TB, path string) {
	t.Helper()
	path, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Clean(os.TempDir())
	grant(t, path, 0o004|(0o100&modeOf(t, path))>>6, strings.HasPrefix(path, tmp+"/"))
	for dir := filepath.Dir(path); dir != "/"; dir = filepath.Dir(dir) {
		grant(t, dir, 0o001, strings.HasPrefix(dir, tmp+"/"))
	}
}

// grant adds the "other" permission bits to path, or fails the test when
// they are missing and path may not be changed.
func grant(t testing.TB, path string, bits os.FileMode, mayChange bool) {
	t.Helper()
	mode := modeOf(t, path)
	if mode&bits == bits {
		return
	}
	if !mayChange {
		t.Fatalf("other users cannot reach %s (mode %v): chmod o+rx it or use a path under %s", path, mode, os.TempDir())
	}
	if err := os.Chmod(path, mode|bits); err != nil {
		t.Fatal(err)
	}
}

func modeOf(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
