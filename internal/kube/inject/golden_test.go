package inject

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current injector")

// testConfig is Defaults with a fixed version, so golden files do not
// change with the build.
func testConfig() Config { return Defaults("v0.4.0") }

// TestYAMLGolden injects each testdata input and compares the output stream,
// followed by the per-object summary as comments, with <input>.golden.
func TestYAMLGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	json, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	inputs = append(inputs, json...)
	if len(inputs) < 5 {
		t.Fatalf("found only %d inputs in testdata", len(inputs))
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, results, err := YAML(testConfig(), data)
			if err != nil {
				t.Fatal(err)
			}
			got := render(out, results)
			golden := strings.TrimSuffix(in, filepath.Ext(in)) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestYAMLGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output changed (if intended, run with -update):\ngot:\n%s\nwant:\n%s", got, want)
			}
			// Injecting the output again changes nothing: every workload is
			// already injected, and untouched documents are copied as they are.
			again, results2, err := YAML(testConfig(), out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, out) {
				t.Errorf("second injection changed the stream:\n%s", again)
			}
			for _, r := range results2 {
				if r.Injected {
					t.Errorf("second injection injected %s again", r.id())
				}
			}
		})
	}
}

func render(out []byte, results []Result) string {
	var b strings.Builder
	b.Write(out)
	b.WriteString("# ---- summary (stderr) ----\n")
	for _, r := range results {
		b.WriteString("# " + r.String() + "\n")
		for _, w := range r.Warnings {
			b.WriteString("#   warning: " + w + "\n")
		}
	}
	return b.String()
}
