package inject

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// YAML never panics on any input, and what it injects it leaves alone the
// second time.
func FuzzYAML(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(deploymentDoc))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := YAML(testConfig(), data)
		if err != nil {
			return
		}
		again, results, err := YAML(testConfig(), out)
		if err != nil {
			t.Fatalf("injected output does not parse again: %v\n%s", err, out)
		}
		for _, r := range results {
			if r.Injected {
				t.Fatalf("%s injected twice", r.id())
			}
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("second injection changed the stream:\n%s\nthen\n%s", out, again)
		}
	})
}
