package testenv

// Network-namespace harness: "pods" on a bridge, as a node would run them.
//
//	root namespace:  bridge hsbr<tag>  (Net.HostIP, e.g. 10.89.3.1/24)
//	                   │ veth hsve<tag>-<i>
//	pod namespace:   eth0 (Pod.IP, e.g. 10.89.3.2/24), lo, default route via HostIP
//
// Every pod also gets an IPv6 address: fd89:6873::/96 followed by its IPv4
// address (fd89:6873::a59:302), so tests can cover both families. Nothing
// is routed off the machine: the root namespace does not forward, so pods
// reach each other and the root namespace (a CA listening on HostIP) only.
//
// A meshed pod, as the end-to-end tests build it:
//
//	n := testenv.NewNet(t, testenv.NetConfig{})
//	web := n.AddPod(t, "web")
//	web.Run(t, testenv.Binary(t), "init-net")             // as root, like an init container
//	proxy := testenv.Cred{UID: 1443, GID: 1443}
//	dir := testenv.UserDir(t, proxy)                      // config, token, data for the proxy
//	testenv.Reachable(t, testenv.Binary(t))
//	p := web.StartAs(t, proxy, dir, testenv.Binary(t), "proxy", "-c", cfg)
//	l := web.Listen(t, "tcp", "127.0.0.1:8080")           // the app, in-process
//	c, err := other.Dial("tcp", web.Addr(8080), time.Second)
//
// A CA in the root namespace listens on n.HostIP, which every pod reaches.
//
// Names carry the test process's PID and a counter, so concurrent test
// processes never collide, and each IPv4 subnet is claimed with a lock file
// for as long as the Net lives. At first use, a process deletes what earlier
// (dead) test processes left behind. Everything a Net creates is removed at
// test cleanup, also when the test fails.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// NetConfig configures NewNet; the zero value is ready to use.
type NetConfig struct {
	// Subnet is the pods' IPv4 network, /16 to /29. The bridge takes the
	// first address, pods the next ones. Zero: the first free /24 of
	// 10.89.0.0/16, a range used only inside this machine.
	Subnet netip.Prefix
}

// Net is a bridge in the root network namespace with pods attached.
type Net struct {
	Bridge   string       // bridge interface in the root namespace
	Subnet   netip.Prefix // pods' IPv4 network
	Subnet6  netip.Prefix // pods' IPv6 network, Subnet embedded in fd89:6873::/96
	HostIP   netip.Addr   // the bridge's IPv4 address: the pods' default gateway
	HostIP6  netip.Addr   // the bridge's IPv6 address
	tag      string
	mu       sync.Mutex // guards pods
	pods     []*Pod
	lockFile *os.File // holds the claim on Subnet
}

// Pod is a network namespace joined to a Net.
type Pod struct {
	Name  string     // as given to AddPod
	NS    string     // network namespace name (`ip netns exec NS …`)
	IP    netip.Addr // IPv4 address on eth0
	IP6   netip.Addr // IPv6 address on eth0
	Veth  string     // host end of the pod's veth pair, on the bridge
	Net   *Net
	index int
}

const (
	netnsPrefix   = "hstest-"
	bridgePrefix  = "hsbr"
	vethPrefix    = "hsve"
	defaultRange  = "10.89.0.0/16"
	ula6Prefix    = "fd89:6873::"
	netnsLockDir  = "/run/hopseal-testenv"
	maxPodsPerNet = 1295
)

var (
	netSeq       atomic.Int64
	sweepOnce    sync.Once
	podNameValid = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$`)
)

// NewNet creates a bridge for pods. It skips (fails under
// HOPSEAL_TEST_STRICT=1) without root or the ip command from iproute2.
func NewNet(t testing.TB, cfg NetConfig) *Net {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "ip")
	sweepOnce.Do(func() { sweepStale(t, true) })
	n := &Net{tag: strconv.FormatInt(int64(os.Getpid()), 36) + "-" + strconv.FormatInt(netSeq.Add(1), 36)}
	n.Bridge = bridgePrefix + n.tag
	if err := n.claim(cfg.Subnet); err != nil {
		t.Fatalf("netns harness: %v", err)
	}
	t.Cleanup(n.release)
	n.HostIP = n.Subnet.Addr().Next()
	n.Subnet6 = netip.PrefixFrom(embed4(n.Subnet.Addr()), 96+n.Subnet.Bits())
	n.HostIP6 = embed4(n.HostIP)
	t.Cleanup(func() { ipQuiet("link", "del", n.Bridge) })
	mustIP(t, "link", "add", n.Bridge, "type", "bridge")
	mustIP(t, "addr", "add", prefixOf(n.HostIP, n.Subnet), "dev", n.Bridge)
	mustIP(t, "-6", "addr", "add", prefixOf(n.HostIP6, n.Subnet6), "dev", n.Bridge, "nodad")
	mustIP(t, "link", "set", n.Bridge, "up")
	return n
}

// AddPod creates a network namespace named after name (lowercase letters,
// digits and dashes), joins it to the bridge and gives it the next address.
func (n *Net) AddPod(t testing.TB, name string) *Pod {
	t.Helper()
	if !podNameValid.MatchString(name) {
		t.Fatalf("netns harness: pod name %q: use 1-20 lowercase letters, digits and dashes", name)
	}
	n.mu.Lock()
	index := len(n.pods)
	ip := n.HostIP
	for range index + 1 {
		ip = ip.Next()
	}
	p := &Pod{Name: name, NS: netnsPrefix + n.tag + "-" + name, IP: ip, IP6: embed4(ip),
		Veth: vethPrefix + n.tag + "-" + strconv.FormatInt(int64(index), 36), Net: n, index: index}
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	if index >= maxPodsPerNet || !n.Subnet.Contains(ip) || ip == lastAddr(n.Subnet) {
		t.Fatalf("netns harness: no address left in %s for pod %s", n.Subnet, name)
	}
	t.Cleanup(func() { p.remove() })
	mustIP(t, "netns", "add", p.NS)
	mustIP(t, "link", "add", p.Veth, "type", "veth", "peer", "name", "eth0", "netns", p.NS)
	mustIP(t, "link", "set", p.Veth, "master", n.Bridge, "up")
	mustIP(t, "-n", p.NS, "link", "set", "lo", "up")
	mustIP(t, "-n", p.NS, "addr", "add", prefixOf(p.IP, n.Subnet), "dev", "eth0")
	mustIP(t, "-n", p.NS, "-6", "addr", "add", prefixOf(p.IP6, n.Subnet6), "dev", "eth0", "nodad")
	mustIP(t, "-n", p.NS, "link", "set", "eth0", "up")
	mustIP(t, "-n", p.NS, "route", "add", "default", "via", n.HostIP.String())
	mustIP(t, "-n", p.NS, "-6", "route", "add", "default", "via", n.HostIP6.String())
	return p
}

// Pods lists the pods in the order they were added.
func (n *Net) Pods() []*Pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Pod(nil), n.pods...)
}

func (p *Pod) remove() {
	ipQuiet("netns", "del", p.NS)
	ipQuiet("link", "del", p.Veth) // gone with the namespace, unless that failed
}

// claim picks the subnet and holds its lock file until release.
func (n *Net) claim(want netip.Prefix) error {
	if err := os.MkdirAll(netnsLockDir, 0o700); err != nil {
		return err
	}
	if want.IsValid() {
		if !want.Addr().Is4() || want.Bits() < 16 || want.Bits() > 29 || want.Masked() != want {
			return fmt.Errorf("NetConfig.Subnet %s: use an IPv4 network address with a length from /16 to /29", want)
		}
		if !n.tryClaim(want) {
			return fmt.Errorf("NetConfig.Subnet %s is in use by another test or an interface here: pick another one", want)
		}
		return nil
	}
	base := netip.MustParsePrefix(defaultRange).Addr().As4()
	for i := range 256 {
		if n.tryClaim(netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(i), 0}), 24)) {
			return nil
		}
	}
	return fmt.Errorf("every /24 of %s is in use: remove stale interfaces (ip -br addr) or set NetConfig.Subnet", defaultRange)
}

func (n *Net) tryClaim(p netip.Prefix) bool {
	name := filepath.Join(netnsLockDir, "net-"+p.Addr().String()+"_"+strconv.Itoa(p.Bits())+".lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return false
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil || overlapsHost(p) {
		f.Close()
		return false
	}
	n.Subnet, n.lockFile = p, f
	return true
}

func (n *Net) release() {
	if n.lockFile != nil {
		n.lockFile.Close() // closing drops the flock
	}
}

// overlapsHost reports whether an address of the root namespace lies in p.
func overlapsHost(p netip.Prefix) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if addr, ok := netip.AddrFromSlice(ipn.IP); ok && p.Contains(addr.Unmap()) {
				return true
			}
		}
	}
	return false
}

func embed4(a netip.Addr) netip.Addr {
	b := netip.MustParseAddr(ula6Prefix).As16()
	v4 := a.As4()
	copy(b[12:], v4[:])
	return netip.AddrFrom16(b)
}

func prefixOf(a netip.Addr, p netip.Prefix) string {
	return netip.PrefixFrom(a, p.Bits()).String()
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
