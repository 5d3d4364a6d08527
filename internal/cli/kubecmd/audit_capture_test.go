package kubecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/testenv"
)

// runAuditCapture runs `hopseal audit capture args…` in process.
func runAuditCapture(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = runAuditCaptureTo(ctx, &out, &errOut, args...)
	return out.String(), errOut.String(), err
}

func runAuditCaptureTo(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	cmd := auditCaptureCmd(nil)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(ctx)
}

// writeHTTPCapture writes a pcap of one plaintext HTTP exchange from
// client to server, with a bearer token in it, and returns its path and
// the byte offset where its last packet starts.
func writeHTTPCapture(t *testing.T, client, server string) (string, int) {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	c, s := netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)
	seq := map[netip.AddrPort]uint32{c: 100, s: 900}
	ts := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	last := 0
	send := func(from, to netip.AddrPort, syn, fin bool, payload string) {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(from.Port()), DstPort: layers.TCPPort(to.Port()), Seq: seq[from], Ack: seq[to], SYN: syn, FIN: fin, ACK: !syn || from == s, Window: 512}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(time.Millisecond)
		last = b.Len()
		w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes())
		seq[from] += uint32(len(payload))
		if syn || fin {
			seq[from]++
		}
	}
	send(c, s, true, false, "")
	send(s, c, true, false, "")
	send(c, s, false, false, "GET /pay HTTP/1.1\r\nHost: payments\r\nAuthorization: Bearer tok-secret-77\r\n\r\n")
	send(s, c, false, false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	send(c, s, false, true, "")
	send(s, c, false, true, "")
	path := filepath.Join(t.TempDir(), "shop.pcap")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, last
}

func readCaptureEvidence(t *testing.T, path string) audit.Evidence {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev audit.Evidence
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("evidence %s: %v", path, err)
	}
	return ev
}

func TestAuditCaptureErrors(t *testing.T) {
	pcap, _ := writeHTTPCapture(t, "10.0.0.10:40000", "10.0.1.7:8080")
	badHosts := writeFile(t, "hosts.yaml", "hosts:\n  - {name: orders, adresses: [10.0.0.1]}\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no source", nil, "give capture files to read, or --interface"},
		{"file and interface", []string{pcap, "-i", "lo"}, "not both"},
		{"duration on a file", []string{pcap, "--duration", "5s"}, "--duration applies to live capture"},
		{"bad filter", []string{pcap, "--filter", "tcp port eighty"}, `at "eighty" (column 10): not a port number`},
		{"bare value in filter", []string{pcap, "--filter", "port 80 or 443"}, `write "host 443" or "port 443"`},
		{"unknown hosts key", []string{pcap, "--hosts", badHosts}, "field adresses not found"},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.pcap")}, "no such file"},
		{"not a capture", []string{badHosts}, "not a pcap or pcapng file"},
		{"mesh port 0", []string{pcap, "--mesh-port", "0"}, "--mesh-port 0"},
		{"tiny stream bytes", []string{pcap, "--stream-bytes", "10"}, "--stream-bytes 10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runAuditCapture(context.Background(), c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to say %q", err, c.want)
			}
		})
	}
}

func TestAuditCaptureFile(t *testing.T) {
	pcap, _ := writeHTTPCapture(t, "10.0.0.10:40000", "10.0.1.7:8080")
	hosts := writeFile(t, "hosts.yaml", "hosts:\n  - {name: orders, addresses: [10.0.0.10]}\n  - {name: payments, namespace: shop, addresses: [10.0.1.0/24]}\n")
	out := filepath.Join(t.TempDir(), "capture.json")
	stdout, stderr, err := runAuditCapture(context.Background(), pcap, "--hosts", hosts, "-o", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q with -o", stdout)
	}
	for _, want := range []string{"capture: 6 packets, 1 TCP connections in 1 flows from " + pcap,
		"critical orders → payments: plaintext HTTP with credentials in the clear", "evidence written to " + out} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
	ev := readCaptureEvidence(t, out)
	if ev.Kind != "capture" || ev.Version != audit.EvidenceVersion || ev.Source != pcap || ev.Partial != "" || len(ev.Findings) != 1 {
		t.Fatalf("evidence %+v", ev)
	}
	f := ev.Findings[0]
	if f.Rule != "capture/plaintext-http1" || f.Subject.Namespace != "shop" || f.Subject.Dest != "payments:8080" || len(f.Controls) == 0 || f.Fix == "" {
		t.Errorf("finding %+v", f)
	}
	if strings.Contains(string(ev.Data), "tok-secret-77") || !strings.Contains(string(ev.Data), "Bearer <redacted>") {
		t.Errorf("data does not mask the token: %s", ev.Data)
	}
}

// A capture cut inside its last packet gives evidence of what came before,
// marked partial, and an error.
func TestAuditCaptureTruncated(t *testing.T) {
	pcap, last := writeHTTPCapture(t, "10.0.0.10:40000", "10.0.1.7:8080")
	b, _ := os.ReadFile(pcap)
	if err := os.WriteFile(pcap, b[:last+20], 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runAuditCapture(context.Background(), pcap)
	if err == nil || !strings.Contains(err.Error(), "ends in the middle of a packet") || !strings.Contains(err.Error(), "marked partial") {
		t.Errorf("error %v", err)
	}
	var ev audit.Evidence
	if jerr := json.Unmarshal([]byte(stdout), &ev); jerr != nil || ev.Partial == "" || len(ev.Findings) != 1 {
		t.Errorf("evidence on stdout: %v %+v", jerr, ev)
	}
	if !strings.Contains(stderr, "partial evidence: ") {
		t.Errorf("summary does not say the evidence is partial:\n%s", stderr)
	}
}

// Addresses named after the cluster's pods and Services.
func TestAuditCaptureKubernetesNames(t *testing.T) {
	k := testenv.NewKubeAPI(t)
	cs, _ := k.Clients(t)
	ns := k.Namespace(t, "shop-", nil)
	ctx := context.Background()
	for name, ip := range map[string]string{"orders": "10.244.0.10", "payments": "10.244.0.11"} {
		p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-0", Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}
		if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pcap, _ := writeHTTPCapture(t, "10.244.0.10:40000", "10.244.0.11:8080")
	stdout, stderr, err := runAuditCapture(ctx, pcap, "--kubeconfig", k.Kubeconfig)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var ev audit.Evidence
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil || len(ev.Findings) != 1 {
		t.Fatalf("evidence: %v\n%s", err, stdout)
	}
	if f := ev.Findings[0]; f.Title != "orders → payments: plaintext HTTP with credentials in the clear" || f.Subject.Namespace != ns {
		t.Errorf("finding %+v", f)
	}
}

// Live capture from a bridge for a duration.
func TestAuditCaptureLive(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	client, server := n.AddPod(t, "client"), n.AddPod(t, "server")
	l := server.Listen(t, "tcp", ":80")
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	var stdout, stderr testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runAuditCaptureTo(context.Background(), &stdout, &stderr,
			"-i", n.Bridge, "--duration", "3s", "--filter", "tcp port 80", "--progress", "100ms")
	}()
	// A progress line comes from the packet loop, so the socket is open.
	testenv.Eventually(t, 2*time.Second, "a progress line", func() bool { return strings.Contains(stderr.String(), "capture: ") })
	c, err := client.Dial("tcp", server.Addr(80), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: server\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(b), "200 OK") {
		t.Fatalf("answer %q", b)
	}
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	r := struct{ stdout, stderr string }{stdout.String(), stderr.String()}
	var ev audit.Evidence
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil || ev.Source != "interface "+n.Bridge || len(ev.Findings) == 0 ||
		ev.Findings[0].Rule != "capture/plaintext-http1" {
		t.Fatalf("evidence %v %+v\n%s", err, ev, r.stderr)
	}
}
