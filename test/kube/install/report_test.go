package install_test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/kube/check"
	"github.com/hopseal/hopseal/internal/testenv"
)

// run is one `hopseal check` run: its JSON report, or its text, and exit code.
type run struct {
	report check.Report
	text   string
	code   int
}

// hopsealCheck runs `hopseal check` with kubeconfig, in JSON unless args
// ask for text.
func hopsealCheck(t *testing.T, kubeconfig string, args ...string) run {
	t.Helper()
	args = append([]string{"check", "--kubeconfig", kubeconfig}, args...)
	text := slices.Contains(args, "text")
	if !text {
		args = append(args, "-o", "json")
	}
	stdout, stderr, err := testenv.Exec{}.Output(t, t.TempDir(), args...)
	r := run{text: stdout}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("hopseal %v: %v\n%s", args, err, stderr)
	}
	if !text {
		if err := json.Unmarshal([]byte(stdout), &r.report); err != nil {
			t.Fatalf("hopseal %v printed no JSON report: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout, stderr)
		}
		if r.report.Success != (r.code == 0) {
			t.Errorf("success %v with exit code %d", r.report.Success, r.code)
		}
	}
	return r
}

// result finds a check by its description.
func (r run) result(t *testing.T, desc string) check.Result {
	t.Helper()
	for _, c := range r.report.Categories {
		for _, ch := range c.Checks {
			if ch.Description == desc {
				return ch
			}
		}
	}
	t.Fatalf("no check %q in the report:\n%s", desc, r.dump())
	return check.Result{}
}

// expect asserts a check's result and that its message says each of say.
func (r run) expect(t *testing.T, desc string, status check.Status, say ...string) {
	t.Helper()
	ch := r.result(t, desc)
	if ch.Result != status {
		t.Errorf("%q: %s (%s), want %s", desc, ch.Result, ch.Message, status)
	}
	for _, s := range say {
		if !strings.Contains(ch.Message, s) {
			t.Errorf("%q says %q, not %q", desc, ch.Message, s)
		}
	}
	if status != check.Success && ch.Hint == "" {
		t.Errorf("%q: a %s without a hint", desc, status)
	}
}

func (r run) categories() []string {
	var names []string
	for _, c := range r.report.Categories {
		names = append(names, c.Name)
	}
	return names
}

// dump lists every check and its result, for failure messages.
func (r run) dump() string {
	var b strings.Builder
	for _, c := range r.report.Categories {
		for _, ch := range c.Checks {
			b.WriteString(c.Name + " / " + ch.Description + ": " + string(ch.Result) + " " + ch.Message + "\n")
		}
	}
	return b.String()
}

func (r run) exit(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d; report:\n%s%s", r.code, code, r.dump(), r.text)
	}
}
