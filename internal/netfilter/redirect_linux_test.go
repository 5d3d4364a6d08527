package netfilter_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/netfilter"
	"github.com/hopseal/hopseal/internal/testenv"
)

// landing is where a connection arrived and what OriginalDst said there.
type landing struct {
	listener string
	orig     netip.AddrPort
	origErr  error
}

// sinks records, per marker line, which listener accepted a connection.
type sinks struct {
	mu   sync.Mutex // guards hits
	hits map[string]landing
}

func newSinks() *sinks { return &sinks{hits: map[string]landing{}} }

// serve accepts on l until cleanup: each connection sends a marker line and
// gets "ok" back once it has been recorded.
func (s *sinks) serve(name string, l net.Listener) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.record(name, c)
		}
	}()
}

func (s *sinks) record(name string, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	orig, origErr := netfilter.OriginalDst(c)
	// The same answer through a TLS wrapper, as the proxy will ask it.
	if wrapped, err := netfilter.OriginalDst(tls.Server(c, &tls.Config{})); wrapped != orig || (err == nil) != (origErr == nil) {
		origErr = fmt.Errorf("through *tls.Conn: %v (%v), directly: %v (%v)", wrapped, err, orig, origErr)
	}
	marker, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	s.mu.Lock()
	s.hits[strings.TrimSpace(marker)] = landing{listener: name, orig: orig, origErr: origErr}
	s.mu.Unlock()
	io.WriteString(c, "ok\n")
}

func (s *sinks) hit(marker string) (landing, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.hits[marker]
	return l, ok
}

// send dials addr from pod, sends marker and waits for "ok".
func send(pod *testenv.Pod, addr, marker string) error {
	c, err := pod.Dial("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s\n", marker)
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || reply != "ok\n" {
		return fmt.Errorf("reply %q: %v", reply, err)
	}
	return nil
}

// sendAs is send from a process running as cred (bash's /dev/tcp).
func sendAs(t *testing.T, pod *testenv.Pod, cred testenv.Cred, addr netip.AddrPort, marker string) error {
	script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d && echo %s >&3 && read -t 5 reply <&3 && [ "$reply" = ok ]`,
		addr.Addr(), addr.Port(), marker)
	out, err := pod.RunAs(t, cred, "bash", "-c", script)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// mesh is an app pod with init-net's rules and fake proxy listeners, a peer
// pod and an external pod without rules, each with real servers on 8080.
type mesh struct {
	app, peer, ext *testenv.Pod
	sinks          *sinks
}

func newMesh(t *testing.T) *mesh {
	n := testenv.NewNet(t, testenv.NetConfig{})
	m := &mesh{app: n.AddPod(t, "app"), peer: n.AddPod(t, "peer"), ext: n.AddPod(t, "ext"), sinks: newSinks()}
	rules := netfilter.Default()
	rules.ExcludeInboundPorts = []uint16{22}
	rules.ExcludeOutboundPorts = []uint16{9000}
	rules.ExcludeOutboundCIDRs = []netip.Prefix{netip.PrefixFrom(m.ext.IP, 32)}
	in(t, m.app, func() error { return netfilter.Apply(rules) })
	listen := []struct {
		pod           *testenv.Pod
		name, network string
		addr          string
	}{
		{m.app, "app outbound proxy", "tcp4", "127.0.0.1:14001"},
		{m.app, "app outbound proxy v6", "tcp6", "[::1]:14001"},
		{m.app, "app inbound proxy", "tcp4", "0.0.0.0:14006"},
		{m.app, "app inbound proxy v6", "tcp6", "[::]:14006"},
		{m.app, "app server", "tcp4", "0.0.0.0:8080"},
		{m.app, "app ssh", "tcp4", "0.0.0.0:22"},
		{m.peer, "peer server", "tcp", ":8080"},
		{m.peer, "peer excluded port", "tcp", ":9000"},
		{m.ext, "ext server", "tcp", ":8080"},
	}
	for _, l := range listen {
		m.sinks.serve(l.name, l.pod.Listen(t, l.network, l.addr))
	}
	return m
}

func TestRedirects(t *testing.T) {
	m := newMesh(t)
	root, proxy, other := testenv.Cred{}, testenv.Cred{UID: 1443, GID: 1443}, testenv.Cred{UID: 1444, GID: 1444}
	ap := func(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
	cases := []struct {
		name     string
		from     *testenv.Pod
		as       *testenv.Cred // nil: in-process, as root
		to       netip.AddrPort
		listener string
		orig     netip.AddrPort // zero: not checked
	}{
		{"outbound goes to the outbound proxy", m.app, nil, ap(m.peer.IP, 8080), "app outbound proxy", ap(m.peer.IP, 8080)},
		{"outbound IPv6 too", m.app, nil, ap(m.peer.IP6, 8080), "app outbound proxy v6", ap(m.peer.IP6, 8080)},
		{"outbound from another process", m.app, &other, ap(m.peer.IP, 8080), "app outbound proxy", netip.AddrPort{}},
		{"outbound from a root process", m.app, &root, ap(m.peer.IP, 8080), "app outbound proxy", netip.AddrPort{}},
		{"the proxy's UID is exempt", m.app, &proxy, ap(m.peer.IP, 8080), "peer server", netip.AddrPort{}},
		{"excluded outbound port", m.app, nil, ap(m.peer.IP, 9000), "peer excluded port", netip.AddrPort{}},
		{"excluded outbound network", m.app, nil, ap(m.ext.IP, 8080), "ext server", netip.AddrPort{}},
		{"loopback stays local", m.app, nil, ap(netip.MustParseAddr("127.0.0.1"), 8080), "app server", netip.AddrPort{}},
		{"the pod's own IP stays local", m.app, nil, ap(m.app.IP, 8080), "app server", netip.AddrPort{}},
		{"inbound goes to the inbound proxy", m.peer, nil, ap(m.app.IP, 8080), "app inbound proxy", ap(m.app.IP, 8080)},
		{"inbound IPv6 too", m.peer, nil, ap(m.app.IP6, 8080), "app inbound proxy v6", ap(m.app.IP6, 8080)},
		{"inbound from an excluded network", m.ext, nil, ap(m.app.IP, 8080), "app inbound proxy", ap(m.app.IP, 8080)},
		{"excluded inbound port", m.peer, nil, ap(m.app.IP, 22), "app ssh", netip.AddrPort{}},
		{"inbound to the inbound port itself", m.peer, nil, ap(m.app.IP, 14006), "app inbound proxy", ap(m.app.IP, 14006)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := fmt.Sprintf("case%d", i)
			var err error
			if tc.as != nil {
				err = sendAs(t, tc.from, *tc.as, tc.to, marker)
			} else {
				err = send(tc.from, tc.to.String(), marker)
			}
			if err != nil {
				t.Fatalf("connect from pod %s to %s: %v", tc.from.Name, tc.to, err)
			}
			got, ok := m.sinks.hit(marker)
			if !ok || got.listener != tc.listener {
				t.Fatalf("connection to %s landed on %q, want %q", tc.to, got.listener, tc.listener)
			}
			if tc.orig.IsValid() && (got.origErr != nil || got.orig != tc.orig) {
				t.Fatalf("OriginalDst = %v (%v), want %v", got.orig, got.origErr, tc.orig)
			}
		})
	}
}

// Peers reach neither the outbound proxy (it listens on loopback, and its
// port is not redirected to the inbound one) nor anything else but TCP.
func TestNotRedirected(t *testing.T) {
	m := newMesh(t)
	if err := send(m.peer, m.app.Addr(14001), "to outbound port"); err == nil {
		t.Fatalf("a peer reached the app pod's outbound proxy port")
	}
	if _, ok := m.sinks.hit("to outbound port"); ok {
		t.Fatalf("a connection to the outbound port landed on a listener")
	}
	// DNS and other UDP: a datagram to the peer arrives there, not at a
	// UDP socket on the proxy's port.
	var trap, dns net.PacketConn
	in(t, m.app, func() (err error) { trap, err = net.ListenPacket("udp4", "127.0.0.1:14001"); return err })
	in(t, m.peer, func() (err error) { dns, err = net.ListenPacket("udp4", ":5353"); return err })
	t.Cleanup(func() { trap.Close(); dns.Close() })
	in(t, m.app, func() error {
		c, err := net.Dial("udp4", m.peer.Addr(5353))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("query"))
		return err
	})
	dns.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 16)
	if n, _, err := dns.ReadFrom(buf); err != nil || string(buf[:n]) != "query" {
		t.Fatalf("UDP to the peer: got %q, %v; want the datagram delivered unredirected", buf[:n], err)
	}
}

// Fail closed: with no proxy listening, redirected connections are refused
// and nothing reaches the destination in plaintext.
func TestFailsClosedWithoutProxy(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	app, peer := n.AddPod(t, "app"), n.AddPod(t, "peer")
	in(t, app, func() error { return netfilter.Apply(netfilter.Default()) })
	s := newSinks()
	s.serve("peer server", peer.Listen(t, "tcp", ":8080"))
	s.serve("app server", app.Listen(t, "tcp", ":8080"))
	cases := []struct {
		name     string
		from, to *testenv.Pod
	}{
		{"outbound proxy down", app, peer},
		{"inbound proxy down", peer, app},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := send(tc.from, tc.to.Addr(8080), tc.name)
			if err == nil || !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("connect %s → %s: %v, want connection refused", tc.from.Name, tc.to.Name, err)
			}
			if got, ok := s.hit(tc.name); ok {
				t.Fatalf("the connection reached %q around the missing proxy", got.listener)
			}
		})
	}
}

func TestOriginalDstOnDualStackListener(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	app, peer := n.AddPod(t, "app"), n.AddPod(t, "peer")
	in(t, app, func() error { return netfilter.Apply(netfilter.Default()) })
	s := newSinks()
	s.serve("dual-stack inbound proxy", app.Listen(t, "tcp", "[::]:14006"))
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(app.IP, 8080), netip.AddrPortFrom(app.IP6, 8080)} {
		if err := send(peer, to.String(), to.String()); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.hit(to.String()); got.orig != to || got.origErr != nil {
			t.Errorf("OriginalDst = %v (%v), want %v", got.orig, got.origErr, to)
		}
	}
}

func TestOriginalDstWithoutRedirect(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	app, peer := n.AddPod(t, "app"), n.AddPod(t, "peer")
	s := newSinks()
	s.serve("plain", app.Listen(t, "tcp4", ":8080"))
	if err := send(peer, app.Addr(8080), "plain"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.hit("plain")
	if got.origErr == nil {
		t.Fatalf("OriginalDst of an untracked connection = %v, want an error", got.orig)
	}
	if !strings.Contains(got.origErr.Error(), "not redirected") {
		t.Fatalf("OriginalDst error %q does not say the connection was not redirected", got.origErr)
	}
}

// Re-running Apply replaces the rules in one transaction: connections opened
// meanwhile are all redirected, none slips through to the peer directly.
func TestReapplyNeverOpensAWindow(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	app, peer := n.AddPod(t, "app"), n.AddPod(t, "peer")
	in(t, app, func() error { return netfilter.Apply(netfilter.Default()) })
	s := newSinks()
	s.serve("outbound proxy", app.Listen(t, "tcp4", "127.0.0.1:14001"))
	s.serve("peer server", peer.Listen(t, "tcp", ":8080"))
	other := netfilter.Default()
	other.ExcludeOutboundPorts = []uint16{9000}

	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			r := []netfilter.Rules{netfilter.Default(), other}[i%2]
			err = app.Do(func() error { return netfilter.Apply(r) })
		}
		done <- err
	}()
	sent := 0
	for applying := true; applying; sent++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			applying = false
		default:
		}
		marker := fmt.Sprintf("conn%d", sent)
		if err := send(app, peer.Addr(8080), marker); err != nil {
			t.Fatalf("connection %d: %v", sent, err)
		}
		if got, _ := s.hit(marker); got.listener != "outbound proxy" {
			t.Fatalf("connection %d, opened while rules were replaced, landed on %q", sent, got.listener)
		}
	}
	t.Logf("%d connections while Apply ran 100 times", sent)
}

func TestOriginalDstNeedsATCPConnection(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := netfilter.OriginalDst(a); err == nil || !strings.Contains(err.Error(), "not a TCP connection") {
		t.Fatalf("OriginalDst(net.Pipe) error %v, want one saying it is not a TCP connection", err)
	}
}
