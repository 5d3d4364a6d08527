package kubecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/cli"
)

// Without an admin address the command says what to give; with one that
// does not answer, it still writes its evidence, marked partial, and exits 1.
func TestAuditProxiesCommand(t *testing.T) {
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := auditProxiesCmd(nil)
		cmd.SetOut(&out)
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "--admin") {
		t.Fatalf("no --admin: %v", err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	out, err := run("--admin", addr)
	if cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "partial") {
		t.Fatalf("unreachable admin: %v", err)
	}
	var ev audit.Evidence
	if jerr := json.Unmarshal([]byte(out), &ev); jerr != nil || ev.Kind != "telemetry" || !strings.Contains(ev.Partial, addr) {
		t.Fatalf("evidence %q (%v): want kind telemetry, partial naming %s", out, jerr, addr)
	}
}
