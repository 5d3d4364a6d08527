package testenv

// A transparent mesh on network namespaces, as a node with sidecars runs it:
//
//	root namespace:  CA on Net.HostIP (issuer and bundle ports), host apps
//	pod namespace:   app(s) on :8080, :9000 …   (in-process listeners)
//	                 `hopseal init-net`         (as root, like an init container)
//	                 `hopseal proxy` as UID 1443: inbound :14006, outbound
//	                 127.0.0.1:14001 and [::1]:14001, admin 127.0.0.1:14090
//
// Each meshed pod has its own directory (owned by UID 1443) holding the
// proxy's config, join token, bundle, data dir, policy and discovery files.
// Discovery is generated from the meshed pods' addresses and identities;
// the policy is the YAML the test gives. Apps know nothing of the mesh: they
// dial peers' pod IPs and init-net's rules send the traffic through the proxy.
//
//	m := testenv.NewMesh(t, testenv.MeshConfig{})
//	pods := m.AddPods(t, testenv.PodSpec{Name: "a"}, testenv.PodSpec{Name: "b", Policy: allowA})
//	pods[1].RunHTTPApp(t, 8080)
//	resp, err := pods[0].HTTP("GET", pods[1].Addr(8080), "/", "")

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Transparent-mode addresses, as init-net and the proxy's defaults have
// them; the admin address is the mesh's choice, excluded from interception.
const (
	MeshInboundPort = 14006
	MeshAdminAddr   = "127.0.0.1:14090"
)

// meshProxyUser is the user the proxy runs as; init-net exempts it.
func meshProxyUser() Cred { return Cred{UID: 1443, GID: 1443} }

// MeshConfig configures NewMesh; the zero value is ready to use.
type MeshConfig struct {
	TrustDomain string // default "mesh.test"
	Exec        Exec   // how to run hopseal (CA and proxies)
}

// Mesh is a CA in the root namespace and pods on a bridge.
type Mesh struct {
	Net         *Net
	CA          *CA
	TrustDomain string
	exec        Exec
	mu          sync.Mutex // guards pods
	pods        []*MeshPod
}

// PodSpec describes one pod of a mesh. The zero value (with a Name) is a
// meshed pod: init-net, a strict proxy with egress allowed and a policy
// that denies every peer.
type PodSpec struct {
	Name    string // pod name (see Net.AddPod)
	ID      string // SPIFFE ID; default spiffe://<td>/ns/shop/sa/<Name>
	NoProxy bool   // a workload outside the mesh: no init-net, no proxy
	Mode    string // transparent.mode: "" (strict) or "permissive"
	Egress  string // transparent.egress: "" (allow) or "deny"
	Policy  string // the policy file's YAML; default "rules: []"
}

// NewMesh creates the bridge and starts a CA on its host address, where
// every pod's proxy reaches it (the proxy's own traffic is never redirected).
func NewMesh(t testing.TB, cfg MeshConfig) *Mesh {
	t.Helper()
	RequireTool(t, "ip", "nft", "setpriv")
	if cfg.TrustDomain == "" {
		cfg.TrustDomain = "mesh.test"
	}
	n := NewNet(t, NetConfig{})
	dir := t.TempDir()
	ca := &CA{Exec: cfg.Exec, Dir: dir, StateDir: filepath.Join(dir, "ca"), TrustDomain: cfg.TrustDomain}
	ca.start(t, netip.AddrPortFrom(n.HostIP, 0).String(), netip.AddrPortFrom(n.HostIP, 0).String())
	ca.BundleFile = filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(ca.BundleFile, []byte(ca.CLI(t, "bundle")), 0o644); err != nil {
		t.Fatal(err)
	}
	Reachable(t, cfg.Exec.proxyBin(t))
	return &Mesh{Net: n, CA: ca, TrustDomain: cfg.TrustDomain, exec: cfg.Exec}
}

// ID is the SPIFFE ID the mesh gives a pod name by default.
func (m *Mesh) ID(name string) string {
	return "spiffe://" + m.TrustDomain + "/ns/shop/sa/" + name
}

// AddPods creates the pods, starts every proxy at once and returns when all
// of them are ready, in the order of specs. Each meshed pod's discovery file
// lists every meshed pod of the mesh; pods added by an earlier call learn
// about these when their proxy next reads the file (within a second).
func (m *Mesh) AddPods(t testing.TB, specs ...PodSpec) []*MeshPod {
	t.Helper()
	pods := make([]*MeshPod, len(specs))
	for i, s := range specs {
		pods[i] = m.newPod(t, s)
	}
	m.mu.Lock()
	m.pods = append(m.pods, pods...)
	all := slices.Clone(m.pods)
	m.mu.Unlock()
	disco := discoveryYAML(all)
	for _, p := range all {
		if p.Meshed() {
			writeAtomic(t, p.DiscoveryFile, disco)
		}
	}
	for _, p := range pods {
		if p.Meshed() {
			p.initNet(t)
			p.LaunchProxy(t)
		}
	}
	for _, p := range pods {
		if p.Meshed() {
			p.WaitProxyReady(t)
		}
	}
	return pods
}

// Pods lists the mesh's pods in the order they were added.
func (m *Mesh) Pods() []*MeshPod {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.pods)
}

// discoveryYAML maps each meshed pod's IPv4 and IPv6 address to its ID.
func discoveryYAML(pods []*MeshPod) string {
	var b strings.Builder
	b.WriteString("workloads:\n")
	n := 0
	for _, p := range pods {
		if p.Meshed() {
			fmt.Fprintf(&b, "  - spiffe_id: %s\n    addresses: [%q, %q]\n", p.ID, p.IP, p.IP6)
			n++
		}
	}
	if n == 0 {
		return "workloads: []\n"
	}
	return b.String()
}

// writeAtomic replaces path with data the way operators should: a
// temporary file in the same directory renamed over it, so a reader never
// sees half a file.
func writeAtomic(t testing.TB, path, data string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.WriteString(data)
	cerr := f.Close()
	if err := firstErr(werr, cerr, os.Chmod(f.Name(), 0o644)); err != nil {
		os.Remove(f.Name())
		t.Fatalf("write %s: %v", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		t.Fatalf("replace %s: %v", path, err)
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// yamlOf marshals v or fails the test.
func yamlOf(t testing.TB, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
