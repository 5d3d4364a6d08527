package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoOnce answers the first line of each connection with "<name> <line>".
func echoOnce(l net.Listener, name string) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "%s %s", name, line)
			}()
		}
	}()
}

// ask sends a line over c and returns the answer.
func ask(c net.Conn, line string) (string, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(got), err
}

func TestNetConnectsPodsAndHost(t *testing.T) {
	n := NewNet(t, NetConfig{})
	a, b := n.AddPod(t, "a"), n.AddPod(t, "b")
	echoOnce(b.Listen(t, "tcp4", "0.0.0.0:8080"), "b4")
	echoOnce(b.Listen(t, "tcp6", "[::]:8080"), "b6")
	host, err := net.Listen("tcp", netip.AddrPortFrom(n.HostIP, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	echoOnce(host, "host")

	cases := []struct{ name, addr, want string }{
		{"pod to pod IPv4", b.Addr(8080), "b4 hello"},
		{"pod to pod IPv6", b.Addr6(8080), "b6 hello"},
		{"pod to root namespace", host.Addr().String(), "host hello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := a.Dial("tcp", tc.addr, 2*time.Second)
			if err != nil {
				t.Fatalf("dial %s from pod a: %v", tc.addr, err)
			}
			if got, err := ask(c, "hello"); got != tc.want {
				t.Fatalf("answer %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestPodAddresses(t *testing.T) {
	n := NewNet(t, NetConfig{Subnet: netip.MustParsePrefix("10.89.254.0/29")})
	a, b := n.AddPod(t, "a"), n.AddPod(t, "b")
	want := map[string]netip.Addr{
		"host": netip.MustParseAddr("10.89.254.1"), "a": netip.MustParseAddr("10.89.254.2"), "b": netip.MustParseAddr("10.89.254.3"),
		"host6": netip.MustParseAddr("fd89:6873::a59:fe01"), "a6": netip.MustParseAddr("fd89:6873::a59:fe02"),
	}
	got := map[string]netip.Addr{"host": n.HostIP, "a": a.IP, "b": b.IP, "host6": n.HostIP6, "a6": a.IP6}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s address %s, want %s", k, got[k], w)
		}
	}
	var ifaces string
	if err := a.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			addrs, _ := i.Addrs()
			ifaces += fmt.Sprintf("%s %v\n", i.Name, addrs)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ifaces, "eth0 [10.89.254.2/29 fd89:6873::a59:fe02/125") {
		t.Fatalf("inside pod a, interfaces are:\n%s", ifaces)
	}
}

func TestNetConfigRejectsBadSubnets(t *testing.T) {
	RequireRoot(t)
	for _, s := range []string{"10.89.1.1/24", "10.0.0.0/8", "10.89.1.0/30", "fd00::/64"} {
		n := &Net{}
		if err := n.claim(netip.MustParsePrefix(s)); err == nil || !strings.Contains(err.Error(), "NetConfig.Subnet") {
			n.release()
			t.Errorf("subnet %s: error %v, want one naming NetConfig.Subnet", s, err)
		}
	}
}

func TestRunAsUserInPod(t *testing.T) {
	n := NewNet(t, NetConfig{})
	p := n.AddPod(t, "user")
	out, err := p.RunAs(t, Cred{UID: 1443, GID: 1444}, "sh", "-c", "id -u; id -G; cat /proc/self/status | grep CapEff")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	fields := strings.Fields(out)
	if len(fields) < 4 || fields[0] != "1443" || fields[1] != "1444" || fields[3] != "0000000000000000" {
		t.Fatalf("id inside the pod: %q, want uid 1443, only group 1444, no capabilities", out)
	}
	out, err = p.Run(t, "ip", "-br", "addr", "show", "eth0")
	if err != nil || !strings.Contains(out, p.IP.String()) {
		t.Fatalf("ip addr inside the pod: %v: %s", err, out)
	}
}

func TestStartAsReachesUserFiles(t *testing.T) {
	n := NewNet(t, NetConfig{})
	p := n.AddPod(t, "files")
	cred := Cred{UID: 1443, GID: 1443}
	dir := UserDir(t, cred)
	script := filepath.Join(t.TempDir(), "sub", "hello.sh")
	os.MkdirAll(filepath.Dir(script), 0o700)
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho from $(id -u) > \"$1\"/out\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := p.RunAs(t, cred, script, dir); err == nil {
		t.Fatalf("a 0700 script under t.TempDir() ran as another user: %s", out)
	}
	Reachable(t, script)
	proc := p.StartAs(t, cred, dir, script, dir)
	if err := proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("%v: %s", err, proc.Output())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(b) != "from 1443\n" {
		t.Fatalf("out = %q, %v", b, err)
	}
}

func TestCleanupRemovesEverything(t *testing.T) {
	var n *Net
	var pods []*Pod
	t.Run("build", func(t *testing.T) {
		n = NewNet(t, NetConfig{})
		pods = []*Pod{n.AddPod(t, "x"), n.AddPod(t, "y")}
		pods[0].Start(t, "", "sleep", "60") // stopped before its namespace goes
	})
	if t.Failed() {
		return
	}
	for _, p := range pods {
		if _, err := os.Stat(p.nsPath()); !os.IsNotExist(err) {
			t.Errorf("network namespace %s still exists (%v)", p.NS, err)
		}
		if _, err := net.InterfaceByName(p.Veth); err == nil {
			t.Errorf("veth %s still exists", p.Veth)
		}
	}
	if _, err := net.InterfaceByName(n.Bridge); err == nil {
		t.Errorf("bridge %s still exists", n.Bridge)
	}
	m := &Net{}
	if !m.tryClaim(n.Subnet) {
		t.Errorf("subnet %s is still claimed", n.Subnet)
	}
	m.release()
}

func TestStaleTag(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	tag := func(pid int) string { return strconv.FormatInt(int64(pid), 36) + "-1" }
	cases := []struct {
		name string
		rest string
		self bool
		want bool
	}{
		{"exited process", tag(dead.Process.Pid), false, true},
		{"running process", tag(os.Getppid()), true, false},
		{"this process, first sweep", tag(os.Getpid()), true, true},
		{"this process, later", tag(os.Getpid()), false, false},
		{"exited process, pod name", tag(dead.Process.Pid) + "-web", false, true},
		{"no counter", strconv.FormatInt(int64(dead.Process.Pid), 36), false, false},
		{"another harness's name", "kube-node1", false, false},
		{"not base 36", "!!-1", false, false},
	}
	for _, tc := range cases {
		if got := staleTag(tc.rest, tc.self); got != tc.want {
			t.Errorf("%s: staleTag(%q, %v) = %v, want %v", tc.name, tc.rest, tc.self, got, tc.want)
		}
	}
}

func TestSweepRemovesStaleObjects(t *testing.T) {
	RequireRoot(t)
	RequireTool(t, "ip")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	tag := strconv.FormatInt(int64(dead.Process.Pid), 36) + "-1"
	ns, bridge := netnsPrefix+tag+"-left", bridgePrefix+tag
	mustIP(t, "netns", "add", ns)
	mustIP(t, "link", "add", bridge, "type", "bridge")
	t.Cleanup(func() { ipQuiet("netns", "del", ns); ipQuiet("link", "del", bridge) })
	sweepStale(t, false)
	if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s survived the sweep (%v)", ns, err)
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		t.Errorf("stale bridge %s survived the sweep", bridge)
	}
}
