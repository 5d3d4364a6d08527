package reload

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// Each change keeps size and mtime, so only inode or ctime can reveal it.
func TestStampSeesChangesThatKeepSizeAndMtime(t *testing.T) {
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	path := filepath.Join(t.TempDir(), "f")
	write := func(p, content string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	stat := func() stamp {
		t.Helper()
		st, err := statFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	write(path, "v1")
	before := stat()
	if again := stat(); again != before {
		t.Fatalf("an untouched file changed stamp: %+v then %+v", before, again)
	}
	tests := []struct {
		name   string
		change func()
	}{
		{"in-place write", func() { write(path, "v2") }},
		{"rename-replace", func() {
			write(path+".tmp", "v3")
			if err := os.Rename(path+".tmp", path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		// ctime comes from the kernel's coarse clock: let it move on first.
		last := time.Unix(0, stat().ctime)
		testenv.Eventually(t, time.Second, "the clock to pass the last ctime", func() bool {
			return time.Since(last) > 20*time.Millisecond
		})
		before := stat()
		tt.change()
		after := stat()
		if after == before {
			t.Errorf("%s: stamp unchanged: %+v", tt.name, after)
		}
		if after.size != before.size || after.mtime != before.mtime {
			t.Fatalf("%s: test bug: size or mtime changed", tt.name)
		}
	}
}
