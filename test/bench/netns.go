package main

// Pods for the transparent topology: network namespaces on a bridge, as a
// node runs them (internal/testenv/netns.go does the same for tests):
//
//	root namespace:  bridge hbbr<pid>  (hostIP, e.g. 10.89.7.1/24) ── the CA listens here
//	                   │ veth hbve<pid>-<i>
//	pod namespace:   eth0 (pod.ip, e.g. 10.89.7.2/24), lo, default route via hostIP
//
// The subnet is claimed with the test harness's lock files, so a run never
// collides with tests building pods at the same time. Nothing is routed off
// the machine.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hopseal/hopseal/internal/netns"
)

const (
	podRange    = "10.89.0.0/16" // the test harness's range, shared through its lock files
	podLockDir  = "/run/hopseal-testenv"
	netnsPrefix = "hsbench-"
)

// bridge is the pods' network; close removes it and every pod.
type bridge struct {
	name   string
	subnet netip.Prefix
	hostIP netip.Addr
	tag    string
	pods   []*pod
	lock   *os.File
}

// pod is a network namespace on the bridge.
type pod struct {
	name string
	ns   string
	ip   netip.Addr
	veth string
}

func newBridge() (_ *bridge, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the transparent topology builds network namespaces and needs root; run as root, or pass -topology loopback")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("the transparent topology needs the ip command: %w; install iproute2 (scripts/install-test-deps.sh)", err)
	}
	sweepStale()
	b := &bridge{tag: strconv.FormatInt(int64(os.Getpid()), 36)}
	b.name = "hbbr" + b.tag
	if err := b.claim(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	b.hostIP = b.subnet.Addr().Next()
	for _, args := range [][]string{
		{"link", "add", b.name, "type", "bridge"},
		{"addr", "add", netip.PrefixFrom(b.hostIP, b.subnet.Bits()).String(), "dev", b.name},
		{"link", "set", b.name, "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// addPod creates a namespace joined to the bridge with the next address.
func (b *bridge) addPod(name string) (*pod, error) {
	addr := b.hostIP
	for range len(b.pods) + 1 {
		addr = addr.Next()
	}
	p := &pod{name: name, ns: netnsPrefix + b.tag + "-" + name, ip: addr, veth: "hbve" + b.tag + "-" + strconv.Itoa(len(b.pods))}
	b.pods = append(b.pods, p)
	for _, args := range [][]string{
		{"netns", "add", p.ns},
		{"link", "add", p.veth, "type", "veth", "peer", "name", "eth0", "netns", p.ns},
		{"link", "set", p.veth, "master", b.name, "up"},
		{"-n", p.ns, "link", "set", "lo", "up"},
		{"-n", p.ns, "addr", "add", netip.PrefixFrom(p.ip, b.subnet.Bits()).String(), "dev", "eth0"},
		{"-n", p.ns, "link", "set", "eth0", "up"},
		{"-n", p.ns, "route", "add", "default", "via", b.hostIP.String()},
	} {
		if err := ip(args...); err != nil {
			return nil, fmt.Errorf("pod %s: %w", name, err)
		}
	}
	// Load generators open and close many connections; let them reuse
	// ports in TIME_WAIT as a busy client would.
	if err := p.run("sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"); err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	return p, nil
}

func (b *bridge) close() {
	for _, p := range b.pods {
		ipQuiet("netns", "del", p.ns)
		ipQuiet("link", "del", p.veth)
	}
	ipQuiet("link", "del", b.name)
	if b.lock != nil {
		b.lock.Close() // drops the flock
	}
}

// claim takes the first /24 of podRange that neither a test nor an
// interface of this machine uses.
func (b *bridge) claim() error {
	if err := os.MkdirAll(podLockDir, 0o700); err != nil {
		return err
	}
	base := netip.MustParsePrefix(podRange).Addr().As4()
	for i := 255; i >= 0; i-- { // from the top: tests claim from the bottom
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(i), 0}), 24)
		name := filepath.Join(podLockDir, "net-"+p.Addr().String()+"_24.lock")
		f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil || usedHere(p) {
			f.Close()
			continue
		}
		b.subnet, b.lock = p, f
		return nil
	}
	return fmt.Errorf("every /24 of %s is in use: remove stale interfaces (ip -br addr)", podRange)
}

func usedHere(p netip.Prefix) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if addr, ok := netip.AddrFromSlice(n.IP); ok && p.Contains(addr.Unmap()) {
				return true
			}
		}
	}
	return false
}

// sweepStale removes namespaces and links of earlier runs that are gone.
func sweepStale() {
	alive := func(tag string) bool {
		pid, err := strconv.ParseInt(tag, 36, 32)
		return err == nil && (int(pid) == os.Getpid() || syscall.Kill(int(pid), 0) == nil)
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if rest, ok := strings.CutPrefix(e.Name(), netnsPrefix); ok {
				if tag, _, _ := strings.Cut(rest, "-"); !alive(tag) {
					ipQuiet("netns", "del", e.Name())
				}
			}
		}
	}
	links, _ := net.Interfaces()
	for _, l := range links {
		for _, prefix := range []string{"hbbr", "hbve"} {
			if rest, ok := strings.CutPrefix(l.Name, prefix); ok {
				if tag, _, _ := strings.Cut(rest, "-"); !alive(tag) {
					ipQuiet("link", "del", l.Name)
				}
			}
		}
	}
}

// addr is the pod's address with port.
func (p *pod) addr(port uint16) string { return netip.AddrPortFrom(p.ip, port).String() }

// command runs name inside the pod; as, if set, is "uid:gid" with no
// supplementary groups (setpriv execs in place, as does ip netns exec, so
// the process's PID is the program's).
func (p *pod) command(as string, name string, args ...string) []string {
	out := []string{"netns", "exec", p.ns}
	if as != "" {
		uid, gid, _ := strings.Cut(as, ":")
		out = append(out, "setpriv", "--reuid="+uid, "--regid="+gid, "--clear-groups", "--")
	}
	return append(append(out, name), args...)
}

// run runs a command inside the pod as root, to completion.
func (p *pod) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", p.command("", name, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("in pod %s: %s %s: %w: %s", p.name, name, strings.Join(args, " "), err, out)
	}
	return nil
}

// do runs fn on a thread inside the pod's namespace: sockets fn opens
// belong to the pod. A nil pod runs fn where the benchmark runs.
func (p *pod) do(fn func() error) error {
	if p == nil {
		return fn()
	}
	return netns.Do("/run/netns/"+p.ns, fn)
}

// dial connects to addr from inside the pod.
func (p *pod) dial(addr string) (net.Conn, error) {
	var c net.Conn
	err := p.do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	return c, err
}

func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func ipQuiet(args ...string) { ip(args...) }
