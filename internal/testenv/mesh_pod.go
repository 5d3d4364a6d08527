package testenv

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/config"
)

// MeshPod is a pod of a Mesh: its namespace, its identity and, when
// meshed, its proxy and the files the proxy reads.
type MeshPod struct {
	*Pod
	Mesh          *Mesh
	Spec          PodSpec
	ID            string // SPIFFE ID ("" for a pod without proxy)
	Dir           string // the proxy's directory, owned by the proxy's user (UID 1443)
	ConfigFile    string
	PolicyFile    string
	DiscoveryFile string
	DataDir       string
	Proxy         *Proc     // the proxy now running (or last run)
	Started       time.Time // when Proxy was launched
}

// Meshed reports whether the pod runs init-net and a proxy.
func (p *MeshPod) Meshed() bool { return !p.Spec.NoProxy }

func (m *Mesh) newPod(t testing.TB, s PodSpec) *MeshPod {
	t.Helper()
	p := &MeshPod{Pod: m.Net.AddPod(t, s.Name), Mesh: m, Spec: s}
	if s.NoProxy {
		return p
	}
	p.ID = s.ID
	if p.ID == "" {
		p.ID = m.ID(s.Name)
	}
	p.Dir = UserDir(t, meshProxyUser())
	p.ConfigFile = filepath.Join(p.Dir, "proxy.yaml")
	p.PolicyFile = filepath.Join(p.Dir, "policy.yaml")
	p.DiscoveryFile = filepath.Join(p.Dir, "discovery.yaml")
	p.DataDir = filepath.Join(p.Dir, "data")
	bundle := filepath.Join(p.Dir, "bundle.pem")
	token := filepath.Join(p.Dir, "join.token")
	copyFile(t, m.CA.BundleFile, bundle)
	copyFile(t, m.CA.Token(t, p.ID), token)
	policy := s.Policy
	if policy == "" {
		policy = "rules: []\n"
	}
	writeAtomic(t, p.PolicyFile, policy)
	f := config.ProxyFile{
		SPIFFEID: p.ID,
		CA:       config.CAFile{Address: m.CA.IssuerAddr, BundleFile: bundle, JoinTokenFile: token},
		DataDir:  p.DataDir,
		Admin:    config.AdminFile{Listen: MeshAdminAddr},
		Transparent: &config.TransparentFile{
			Mode: s.Mode, Egress: s.Egress, PolicyFile: p.PolicyFile, DiscoveryFile: p.DiscoveryFile,
		},
	}
	writeAtomic(t, p.ConfigFile, yamlOf(t, f))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := ipCmd("netns", "exec", p.NS, "nft", "list", "ruleset")
			t.Logf("pod %s: nftables ruleset:\n%s", p.Name, out)
		}
	})
	return p
}

// initNet installs the interception rules, as the pod's init container.
// The admin port stays reachable directly.
func (p *MeshPod) initNet(t testing.TB) {
	t.Helper()
	out, err := p.Run(t, p.Mesh.exec.proxyBin(t), "init-net", "--exclude-inbound-ports", adminPort())
	if err != nil {
		t.Fatalf("pod %s: hopseal init-net: %v\n%s", p.Name, err, out)
	}
}

func adminPort() string {
	_, port, _ := net.SplitHostPort(MeshAdminAddr)
	return port
}

// LaunchProxy starts the pod's proxy as UID 1443 without waiting for
// it, and records when it started. A restart reuses the SVID in DataDir:
// join tokens are single-use.
func (p *MeshPod) LaunchProxy(t testing.TB) {
	t.Helper()
	if !p.Meshed() {
		t.Fatalf("pod %s has no proxy (PodSpec.NoProxy)", p.Name)
	}
	args := []string{"proxy", "-c", p.ConfigFile}
	bin := p.Mesh.exec.proxyBin(t)
	if env := p.Mesh.exec.Env; len(env) > 0 {
		args = append(append(append([]string{}, env...), bin), args...)
		bin = "env"
	}
	p.Started = time.Now()
	p.Proxy = p.StartAs(t, meshProxyUser(), p.Dir, bin, args...)
}

// WaitProxyReady waits for the running proxy's "proxy ready" line.
func (p *MeshPod) WaitProxyReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(p.Proxy.LogLines("proxy ready")) == 0 {
		if p.Proxy.Exited() {
			t.Fatalf("pod %s: proxy exited before it was ready: %v\n%s", p.Name, p.Proxy.Wait(time.Second), p.Proxy.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: proxy not ready after 30s:\n%s", p.Name, p.Proxy.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// KillProxy kills the proxy at once (SIGKILL), as a crash would.
func (p *MeshPod) KillProxy(t testing.TB) {
	t.Helper()
	p.Proxy.Kill()
}

// RestartProxy launches the proxy again and waits until it is ready.
func (p *MeshPod) RestartProxy(t testing.TB) {
	t.Helper()
	p.LaunchProxy(t)
	p.WaitProxyReady(t)
}

// SIGHUP asks the proxy to renew its SVID and re-read policy and discovery now.
func (p *MeshPod) SIGHUP(t testing.TB) {
	t.Helper()
	if err := p.Proxy.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("pod %s: SIGHUP the proxy: %v", p.Name, err)
	}
}

// WritePolicy atomically replaces the pod's policy file; the proxy notices
// within a second (or at once after SIGHUP).
func (p *MeshPod) WritePolicy(t testing.TB, yaml string) {
	t.Helper()
	writeAtomic(t, p.PolicyFile, yaml)
}

// SetPolicy replaces the policy and waits until the proxy logs that it
// reloaded the file. The new YAML must differ from the one in force.
func (p *MeshPod) SetPolicy(t testing.TB, yaml string) {
	t.Helper()
	before := len(p.reloads())
	p.WritePolicy(t, yaml)
	Eventually(t, 10*time.Second, "pod "+p.Name+": the proxy reloading "+p.PolicyFile, func() bool {
		return len(p.reloads()) > before
	})
}

func (p *MeshPod) reloads() []map[string]any {
	var out []map[string]any
	for _, l := range p.Proxy.LogLines("file reloaded") {
		if Str(l, "path") == p.PolicyFile {
			out = append(out, l)
		}
	}
	return out
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
