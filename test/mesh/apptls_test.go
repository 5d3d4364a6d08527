package mesh_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

const appTLSPort = 8443

// TestAppTLSPassesThrough: an app's own TLS (openssl s_server with its own
// self-signed certificate in b, openssl s_client in a) travels inside the
// mesh mTLS untouched: the app-level handshake verifies the app's
// certificate and data echoes. a's proxy reads the app's SNI from its
// ClientHello without terminating it, and the wire shows only the outer mesh
// TLS: the app's SNI never appears in cleartext.
func TestAppTLSPassesThrough(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "openssl")
	m := testenv.NewMesh(t, testenv.MeshConfig{})
	pods := m.AddPods(t,
		testenv.PodSpec{Name: "a"},
		testenv.PodSpec{Name: "b", Policy: policy(allowRule("a-calls-b", []int{appTLSPort}, m.ID("a")))})
	a, b := pods[0], pods[1]
	cert, key := selfSigned(t, "app.b")
	srv := b.Start(t, "", "openssl", "s_server", "-accept", fmt.Sprint(appTLSPort), "-cert", cert, "-key", key, "-tls1_3", "-rev")
	srv.WaitOutput(t, "ACCEPT", 10*time.Second)
	capture := testenv.StartCapture(t, m.Net.Bridge, fmt.Sprintf("tcp and host %s and host %s", a.IP, b.IP))

	out := sClient(t, a, b.Addr(appTLSPort), cert, "app.b", "hello app tls")
	for _, want := range []string{"Protocol version: TLSv1.3", "Verification: OK", "Verified peername: app.b", "slt ppa olleh"} {
		if !strings.Contains(out, want) {
			t.Errorf("openssl s_client output lacks %q:\n%s", want, out)
		}
	}
	dst := b.Addr(appTLSPort)
	outLine := a.WaitConnection(t, testenv.Fields("direction", "outbound", "destination", dst))
	logged(t, "a's outbound proxy", outLine, map[string]string{"protocol": "tls", "sni": "app.b", "security": "mutual_tls", "peer_id": b.ID})
	inLine := b.WaitConnection(t, testenv.Fields("direction", "inbound", "destination", dst))
	logged(t, "b's inbound proxy", inLine, map[string]string{"protocol": "tls", "security": "mutual_tls", "peer_id": a.ID})

	conns := capture.WaitConns(t, 10*time.Second, "the mesh connection finished", func(cs []testenv.TCPConn) bool {
		return allFinished(cs, 1)
	})
	capture.Stop(t)
	for _, c := range conns {
		for _, s := range c.Streams() {
			checkTLS(t, s, true, [][]byte{[]byte("app.b"), []byte("hello app tls"), []byte("slt ppa olleh")})
		}
	}
}

// selfSigned makes an app's own certificate for name with openssl.
func selfSigned(t *testing.T, name string) (cert, key string) {
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "app.crt"), filepath.Join(dir, "app.key")
	out, err := testenv.Run(t, dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN="+name, "-addext", "subjectAltName=DNS:"+name)
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return cert, key
}

// sClient runs openssl s_client in the pod, sends line to an s_server -rev,
// waits for it to come back reversed, then closes stdin and returns the
// client's output.
func sClient(t *testing.T, p *testenv.MeshPod, addr, caFile, sni, line string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", p.NS, "openssl", "s_client", "-connect", addr, "-CAfile", caFile,
		"-servername", sni, "-verify_hostname", sni, "-verify_return_error", "-tls1_3", "-brief")
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // no-op once it has exited
		<-done
	})
	fmt.Fprintln(stdin, line)
	reversed := []rune(line)
	slices.Reverse(reversed)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), string(reversed)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stdin.Close()
	select {
	case <-done:
		if waitErr != nil {
			t.Errorf("openssl s_client: %v\n%s", waitErr, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("openssl s_client still running 10s after its input ended:\n%s", out.String())
	}
	return out.String()
}
