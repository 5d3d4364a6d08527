package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

var (
	addrA = netip.MustParseAddrPort("10.89.0.1:8080")
	addrB = netip.MustParseAddrPort("10.89.0.2:9090")
)

// version n maps both addresses to spiffe://example.org/v<n>.
func version(n int) string {
	return fmt.Sprintf("workloads:\n  - spiffe_id: spiffe://example.org/v%d\n    addresses: [10.89.0.1, \"10.89.0.2:9090\"]\n", n)
}

func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestNewFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := NewFile(missing, nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v", err)
	}
	invalid := filepath.Join(dir, "invalid.yaml")
	replace(t, invalid, "workloads: [{spiffe_id: nope, addresses: [10.0.0.1]}]")
	if _, err := NewFile(invalid, nil); err == nil || !strings.Contains(err.Error(), `workloads[0].spiffe_id: "nope"`) {
		t.Fatalf("invalid file: %v", err)
	}
}

func TestFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "discovery.yaml")
	replace(t, path, version(0))
	logs := &testenv.Buffer{}
	f, err := NewFile(path, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
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
		wg.Go(func() { checkComplete(ctx, t, f) })
	}
	for i := 1; i <= 20; i++ {
		replace(t, path, version(i))
		f.Trigger()
		want := fmt.Sprintf("spiffe://example.org/v%d", i)
		testenv.Eventually(t, 5*time.Second, want, func() bool {
			id, _ := f.Lookup(addrA)
			return id.String() == want
		})
	}

	replace(t, path, "workloads: [")
	f.Trigger()
	testenv.Eventually(t, 5*time.Second, "the invalid file logged", func() bool { return logs.Count("not valid") == 1 })
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.Trigger()
	testenv.Eventually(t, 5*time.Second, "the missing file logged", func() bool { return logs.Count("cannot read the file") == 1 })
	if id, ok := f.Lookup(addrB); !ok || id.String() != "spiffe://example.org/v20" {
		t.Fatalf("after an invalid and a missing file Lookup = %v, %v; want v20 kept", id, ok)
	}
}

// checkComplete fails the test if a table ever maps the two addresses of
// one version to different IDs, or misses either.
func checkComplete(ctx context.Context, t *testing.T, f *File) {
	for ctx.Err() == nil {
		tab := f.Table()
		a, okA := tab.Lookup(addrA)
		b, okB := tab.Lookup(addrB)
		if !okA || !okB || a.String() != b.String() {
			t.Errorf("incomplete table: %v %v, %v %v", a, okA, b, okB)
			return
		}
		if _, ok := f.Lookup(addrB); !ok {
			t.Error("Lookup missed an address present in every version")
			return
		}
	}
}
