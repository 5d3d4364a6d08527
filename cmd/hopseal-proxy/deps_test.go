package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The data plane must not link the control plane's or the edge's
// libraries: Kubernetes' packages alone add about 16 MiB to a process's
// memory at start, which every sidecar would pay; the gateway's (ACME and
// its logging) and the audit's add their package initialisation.
func TestNoControlPlaneDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"k8s.io/", "sigs.k8s.io/", "github.com/caddyserver/", "go.uber.org/zap", "github.com/gopacket/",
			"github.com/hopseal/hopseal/internal/kube", "github.com/hopseal/hopseal/internal/gateway",
			"github.com/hopseal/hopseal/internal/audit", "github.com/hopseal/hopseal/internal/trace",
		} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("hopseal-proxy links %s", pkg)
			}
		}
	}
}
