package capture_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/capture"
	"github.com/hopseal/hopseal/internal/testenv"
)

// Real traffic between pods (network namespaces on a bridge), captured by
// tcpdump on the bridge, classified here and cross-checked with tshark.

// analyzeFile reads a capture file with names for the pods.
func analyzeFile(t *testing.T, path string, pods ...*testenv.Pod) *capture.Result {
	t.Helper()
	names := &capture.Names{}
	for _, p := range pods {
		names.Add(netip.PrefixFrom(p.IP, 32), capture.Workload{Name: p.Name, Kind: "Pod"})
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := capture.NewAnalyzer(capture.Options{Names: names})
	if err := a.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return a.Result()
}

// serveHTTP runs a plain HTTP server in pod.
func serveHTTP(t *testing.T, pod *testenv.Pod, port int) {
	l := pod.Listen(t, "tcp", fmt.Sprintf(":%d", port))
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: secretToken})
		io.WriteString(w, "ok\n")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// httpGet sends one request with credentials from pod.
func httpGet(t *testing.T, pod *testenv.Pod, addr string) {
	t.Helper()
	c, err := pod.Dial("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /orders?id=7 HTTP/1.1\r\nHost: server\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", secretToken)
	if b, err := io.ReadAll(c); err != nil || !strings.Contains(string(b), "200 OK") {
		t.Fatalf("HTTP answer %q, %v", b, err)
	}
}

// byPort indexes connections by server port.
func byPort(conns []capture.Conn) map[string][]capture.Conn {
	out := map[string][]capture.Conn{}
	for _, c := range conns {
		out[port(c.Server)] = append(out[port(c.Server)], c)
	}
	return out
}

func TestRealTrafficApps(t *testing.T) {
	testenv.RequireTool(t, "openssl", "psql", "redis-server", "redis-cli", "tshark")
	n := testenv.NewNet(t, testenv.NetConfig{})
	client, server := n.AddPod(t, "client"), n.AddPod(t, "server")
	serveHTTP(t, server, 80)
	opensslServer(t, server, 443, "-tls1_2", "-verify", "1")
	opensslServer(t, server, 2443, "-tls1_3")
	postgresServer(t, server)
	redisServer(t, server)

	c := testenv.StartCapture(t, n.Bridge, "tcp")
	httpGet(t, client, server.Addr(80))
	for _, tc := range []struct{ port, version string }{{"443", "-tls1_2"}, {"2443", "-tls1_3"}} {
		out, _ := client.Run(t, "openssl", "s_client", "-connect", net.JoinHostPort(server.IP.String(), tc.port), tc.version, "-servername", "server.test")
		if !strings.Contains(out, "Cipher is") {
			t.Fatalf("openssl s_client to port %s:\n%s", tc.port, out)
		}
	}
	psql(t, client, server.IP.String(), "disable")
	psql(t, client, server.IP.String(), "require")
	if out, err := client.Run(t, "redis-cli", "-h", server.IP.String(), "-a", secretPassword, "--no-auth-warning", "SET", "cart:7", secretToken); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("redis-cli: %v\n%s", err, out)
	}
	c.WaitConns(t, 10*time.Second, "every connection closed", func(conns []testenv.TCPConn) bool {
		done := 0
		for _, tc := range conns {
			if tc.Finished() {
				done++
			}
		}
		return done >= 6
	})
	c.Stop(t)

	r := analyzeFile(t, c.Path, client, server)
	got := byPort(r.Conns)
	check := func(p string, n int, want func(capture.Conn) string) {
		t.Helper()
		if len(got[p]) != n {
			t.Errorf("port %s: %d connections, want %d: %+v", p, len(got[p]), n, got[p])
			return
		}
		for _, c := range got[p] {
			if msg := want(c); msg != "" {
				t.Errorf("port %s: %s: %+v %+v", p, msg, c.Verdict, c.TLS)
			}
		}
	}
	check("80", 1, func(c capture.Conn) string {
		return expect(c.Protocol == capture.ProtoHTTP1 && c.Cleartext && strings.Contains(c.Sample, "Bearer <redacted>"), "want plaintext HTTP with a masked credential")
	})
	check("443", 1, func(c capture.Conn) string {
		return expect(c.Protocol == capture.ProtoTLS && c.TLS.Version == "TLS 1.2" && c.TLS.ClientCert == "requested", "want TLS 1.2 requesting a client certificate")
	})
	check("2443", 1, func(c capture.Conn) string {
		return expect(c.Protocol == capture.ProtoTLS && c.TLS.Version == "TLS 1.3" && c.TLS.Group == "X25519" && c.TLS.SNI == "server.test", "want TLS 1.3 with X25519")
	})
	check("6379", 1, func(c capture.Conn) string {
		return expect(c.Protocol == capture.ProtoRedis && c.Cleartext && strings.HasPrefix(c.Sample, "AUTH <redacted>"), "want plaintext Redis with AUTH masked")
	})
	pg := got["5432"]
	slices.SortFunc(pg, func(a, b capture.Conn) int { return a.Index - b.Index })
	check("5432", 2, func(c capture.Conn) string {
		if c.Index == pg[0].Index {
			return expect(c.Protocol == capture.ProtoPostgres && !c.Encrypted && c.Cleartext && strings.Contains(c.Sample, "PasswordMessage <redacted>"), "sslmode=disable: want plaintext with the password masked")
		}
		return expect(c.Protocol == capture.ProtoPostgres && c.Encrypted && c.Upgrade == "SSLRequest" && c.TLS.Version == "TLS 1.3", "sslmode=require: want TLS 1.3 after SSLRequest")
	})
	checkNoSecrets(t, r)
	titles := titlesOf(r.Findings())
	t.Logf("findings:\n%s", strings.Join(titles, "\n"))
	for _, want := range []string{
		"critical client → server: plaintext HTTP with credentials in the clear",
		"critical client → server: plaintext PostgreSQL with credentials in the clear",
		"critical client → server: plaintext Redis with credentials in the clear",
		"low client → server: PostgreSQL negotiates TLS in plaintext (SSLRequest)",
		"info client → server: TLS (TLS 1.3, X25519)",
	} {
		if !slices.Contains(titles, want) {
			t.Errorf("no finding %q in:\n%s", want, strings.Join(titles, "\n"))
		}
	}
	crossCheck(t, c.Path, r.Conns, "tcp.port==2443,tls")
}

func expect(ok bool, msg string) string {
	if ok {
		return ""
	}
	return msg
}

func titlesOf(fs []audit.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Severity.String()+" "+f.Title)
	}
	return out
}

// checkNoSecrets fails if the evidence quotes a credential.
func checkNoSecrets(t *testing.T, r *capture.Result) {
	t.Helper()
	ev, err := r.Evidence(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	for _, s := range []string{secretPassword, secretToken} {
		if strings.Contains(string(b), s) {
			t.Errorf("the evidence quotes the secret %q", s)
		}
	}
}

// hopseal's own proxies between meshed pods, and plaintext between two
// pods outside the mesh, on one bridge.
func TestRealTrafficMesh(t *testing.T) {
	testenv.RequireTool(t, "tshark")
	m := testenv.NewMesh(t, testenv.MeshConfig{})
	allow := fmt.Sprintf("rules:\n  - name: orders-calls-payments\n    from:\n      - spiffe_id: %s\n", m.ID("orders"))
	pods := m.AddPods(t, testenv.PodSpec{Name: "orders"}, testenv.PodSpec{Name: "payments", Policy: allow},
		testenv.PodSpec{Name: "legacy", NoProxy: true}, testenv.PodSpec{Name: "ledger", NoProxy: true})
	orders, payments, legacy, ledger := pods[0], pods[1], pods[2], pods[3]
	payments.RunHTTPApp(t, 443)
	serveHTTP(t, ledger.Pod, 80)

	c := testenv.StartCapture(t, m.Net.Bridge, "tcp and not host "+m.Net.HostIP.String())
	reply, err := orders.HTTP("GET", payments.Addr(443), "/pay", "")
	if err != nil || reply.Status != 200 {
		t.Fatalf("orders → payments: %+v, %v", reply, err)
	}
	httpGet(t, legacy.Pod, ledger.Addr(80))
	c.WaitConns(t, 10*time.Second, "both connections closed", func(conns []testenv.TCPConn) bool {
		return len(conns) == 2 && conns[0].Finished() && conns[1].Finished()
	})
	c.Stop(t)

	r := analyzeFile(t, c.Path, orders.Pod, payments.Pod, legacy.Pod, ledger.Pod)
	got := byPort(r.Conns)
	if m := got["443"]; len(m) != 1 || m[0].Protocol != capture.ProtoMesh || m[0].TLS.Version != "TLS 1.3" ||
		m[0].TLS.Group != "X25519MLKEM768" || !strings.HasPrefix(m[0].Client, orders.IP.String()+":") {
		t.Errorf("orders → payments: %+v", m)
	}
	if p := got["80"]; len(p) != 1 || p[0].Protocol != capture.ProtoHTTP1 || p[0].Encrypted {
		t.Errorf("legacy → ledger: %+v", p)
	}
	titles := titlesOf(r.Findings())
	for _, want := range []string{
		"info orders → payments: hopseal mTLS (TLS 1.3, X25519MLKEM768)",
		"critical legacy → ledger: plaintext HTTP with credentials in the clear",
	} {
		if !slices.Contains(titles, want) {
			t.Errorf("no finding %q in:\n%s", want, strings.Join(titles, "\n"))
		}
	}
	checkNoSecrets(t, r)
	crossCheck(t, c.Path, r.Conns)
}

// Live capture through AF_PACKET on the bridge, ended by a duration and by
// a packet count.
func TestLiveCapture(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	client, server := n.AddPod(t, "client"), n.AddPod(t, "server")
	serveHTTP(t, server, 80)
	filter, err := capture.ParseFilter("tcp port 80 and host " + server.IP.String())
	if err != nil {
		t.Fatal(err)
	}
	live := func(o capture.Options, timeout time.Duration, traffic func()) (*capture.Result, error) {
		src, err := capture.OpenLive(n.Bridge)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		a := capture.NewAnalyzer(o)
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, src) }()
		traffic()
		err = <-done
		if src.Drops() != 0 {
			t.Errorf("the kernel dropped %d packets", src.Drops())
		}
		return a.Result(), err
	}
	start := time.Now()
	r, err := live(capture.Options{Filter: filter}, 3*time.Second, func() { httpGet(t, client, server.Addr(80)) })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("run ended with %v after %s, want the 3 s deadline", err, time.Since(start))
	}
	if len(r.Conns) != 1 || r.Conns[0].Protocol != capture.ProtoHTTP1 || r.Conns[0].Client == "" || port(r.Conns[0].Server) != "80" {
		t.Fatalf("live capture: %+v (stats %+v)", r.Conns, r.Stats)
	}
	r, err = live(capture.Options{Filter: filter, Count: 3}, time.Minute, func() { httpGet(t, client, server.Addr(80)) })
	if err != nil || r.Stats.Matched != 3 {
		t.Errorf("with --count 3: %v, %d packets matched", err, r.Stats.Matched)
	}
}

// tcpdump -i any writes Linux cooked headers (SLL2) and sees each packet
// on every interface it crosses: the copies must reassemble as one stream.
func TestRealTrafficAnyInterface(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	client, server := n.AddPod(t, "client"), n.AddPod(t, "server")
	serveHTTP(t, server, 80)
	c := testenv.StartCapture(t, "any", "tcp port 80 and net "+n.Subnet.String())
	httpGet(t, client, server.Addr(80))
	c.WaitStreams(t, 10*time.Second, "the HTTP exchange", func(s []*testenv.TCPStream) bool { return len(s) >= 2 && s[0].FIN && s[1].FIN })
	c.Stop(t)
	r := analyzeFile(t, c.Path, client, server)
	if len(r.Conns) != 1 || r.Conns[0].Protocol != capture.ProtoHTTP1 || !strings.Contains(r.Conns[0].Sample, "Bearer <redacted>") {
		t.Fatalf("connections %+v (stats %+v)", r.Conns, r.Stats)
	}
	if len(r.Conns[0].Notes) != 0 {
		t.Errorf("notes %q: the copies left holes", r.Conns[0].Notes)
	}
	src, err := capture.OpenFile(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, _, link, err := src.Next(); err != nil || link != layers.LinkTypeLinuxSLL2 && link != layers.LinkTypeLinuxSLL {
		t.Errorf("tcpdump -i any wrote link type %v (%v), want Linux cooked", link, err)
	}
}
