package testenv

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/netns"
)

// Cred is the user a pod process runs as, e.g. Cred{1443, 1443} for the
// proxy, whose traffic init-net's rules leave alone.
type Cred struct{ UID, GID uint32 }

// Addr is the pod's IPv4 address with port, as "10.89.3.2:8080".
func (p *Pod) Addr(port uint16) string {
	return netip.AddrPortFrom(p.IP, port).String()
}

// Addr6 is the pod's IPv6 address with port, as "[fd89:6873::a59:302]:8080".
func (p *Pod) Addr6(port uint16) string {
	return netip.AddrPortFrom(p.IP6, port).String()
}

// Do runs fn with the calling thread inside the pod's network namespace:
// sockets fn opens belong to the pod and stay there after Do returns. fn
// runs on its own goroutine, so it must report failure by returning an
// error, not with t.Fatal.
func (p *Pod) Do(fn func() error) error {
	return netns.Do(p.nsPath(), fn)
}

func (p *Pod) nsPath() string { return "/run/netns/" + p.NS }

// Listen opens a listener inside the pod; it is closed at test cleanup.
func (p *Pod) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := p.Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatalf("pod %s: listen %s %s: %v", p.Name, network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Dial connects from inside the pod.
func (p *Pod) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := p.Do(func() (err error) {
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// Start runs a program inside the pod as root until test cleanup (see
// testenv.Start). `ip netns exec` execs in place, so Proc.Stop's signal
// reaches the program itself.
func (p *Pod) Start(t testing.TB, dir, name string, args ...string) *Proc {
	t.Helper()
	return Start(t, dir, "ip", append([]string{"netns", "exec", p.NS, name}, args...)...)
}

// StartAs runs a program inside the pod as c, with no supplementary groups
// and no capabilities. The program and its files must be reachable by c:
// see UserDir and Reachable.
func (p *Pod) StartAs(t testing.TB, c Cred, dir, name string, args ...string) *Proc {
	t.Helper()
	RequireTool(t, "setpriv")
	return Start(t, dir, "ip", append(p.asArgs(c, name), args...)...)
}

// Run runs a program inside the pod as root to completion.
func (p *Pod) Run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	return Run(t, "", "ip", append([]string{"netns", "exec", p.NS, name}, args...)...)
}

// RunAs runs a program inside the pod as c to completion.
func (p *Pod) RunAs(t testing.TB, c Cred, name string, args ...string) (string, error) {
	t.Helper()
	RequireTool(t, "setpriv")
	return Run(t, "", "ip", append(p.asArgs(c, name), args...)...)
}

func (p *Pod) asArgs(c Cred, name string) []string {
	return []string{"netns", "exec", p.NS, "setpriv",
		"--reuid=" + strconv.FormatUint(uint64(c.UID), 10), "--regid=" + strconv.FormatUint(uint64(c.GID), 10),
		"--clear-groups", "--", name}
}
