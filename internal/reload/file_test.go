package reload

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hopseal/hopseal/internal/testenv"
)

// pair is parsed from "a,b" with a == b; a torn or mixed version would show
// as a != b.
type pair struct{ a, b int }

func parsePair(data []byte) (pair, error) {
	a, b, _ := strings.Cut(strings.TrimSpace(string(data)), ",")
	x, err := strconv.Atoi(a)
	if err != nil {
		return pair{}, err
	}
	y, err := strconv.Atoi(b)
	return pair{x, y}, err
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pair")
	if _, err := NewFile(path, parsePair, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("NewFile of a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFile(path, parsePair, nil); err == nil || !strings.Contains(err.Error(), "invalid syntax") {
		t.Fatalf("NewFile of an invalid file: %v", err)
	}
	if err := os.WriteFile(path, []byte("0,0"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(path, parsePair, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Value(); v != (pair{0, 0}) {
		t.Fatalf("Value = %v", v)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if v := f.Value(); v.a != v.b {
					t.Errorf("Value = %v, a mix of two versions", v)
					return
				}
			}
		})
	}
	for i := 1; i <= 20; i++ {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(i)+","+strconv.Itoa(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		f.Trigger()
		testenv.Eventually(t, wait, "version "+strconv.Itoa(i), func() bool { return f.Value().a == i })
	}
}
