// Package integration_test runs hopseal as real processes — `ca serve`,
// `ca token create`, `proxy` — against real peers (openssl, go-spiffe's
// Workload API client, tcpdump) and checks what users and auditors rely on.
//
// Tests needing root or a tool skip in a plain `go test` and fail under
// HOPSEAL_TEST_STRICT=1 (scripts/test.sh), so CI never skips them silently.
package integration_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/testenv"
)

const (
	trustDomain = "demo.local"
	serverID    = "spiffe://demo.local/ns/shop/sa/server"
	clientID    = "spiffe://demo.local/ns/shop/sa/client"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}

// mesh is a CA and a proxy pair: app → client proxy (outbound) → mTLS →
// server proxy (inbound) → app. The server forwards "echo" to an echo
// server and "hash" to a server that answers with the SHA-256 of what it
// read; the client's "probe" outbound reaches a test TLS server that records
// which client certificate the client proxy presents.
type mesh struct {
	exec   testenv.Exec
	dir    string
	ca     *testenv.CA
	server *testenv.Proxy
	client *testenv.Proxy
	probe  *probeServer
	wlSock string // the server proxy's Workload API socket
}

func startMesh(t *testing.T, e testenv.Exec) *mesh {
	t.Helper()
	m := &mesh{exec: e, dir: t.TempDir()}
	m.ca = testenv.StartCA(t, testenv.CAOptions{Exec: e, Dir: m.dir, TrustDomain: trustDomain})
	m.wlSock = filepath.Join(m.dir, "workload.sock")

	sf := m.ca.ProxyFile(t, serverID)
	sf.DataDir = filepath.Join(m.dir, "server-data")
	sf.WorkloadAPI.Socket = m.wlSock
	allow := []string{clientID}
	sf.Inbound = []config.InboundFile{
		{Name: "echo", Forward: testenv.EchoServer(t), Allow: allow},
		{Name: "hash", Forward: testenv.HashServer(t), Allow: allow},
	}
	m.server = testenv.StartProxy(t, e, m.dir, "server", sf)
	m.probe = startProbe(t, sf.DataDir, m.ca.BundleFile)

	cf := m.ca.ProxyFile(t, clientID)
	cf.DataDir = filepath.Join(m.dir, "client-data")
	cf.Outbound = []config.OutboundFile{
		{Name: "echo", Upstream: m.server.Inbound["echo"], ServerID: serverID},
		{Name: "hash", Upstream: m.server.Inbound["hash"], ServerID: serverID},
		{Name: "probe", Upstream: m.probe.addr, ServerID: serverID},
	}
	m.client = testenv.StartProxy(t, e, m.dir, "client", cf)
	return m
}

// echo sends msg through the client proxy's echo outbound and requires it back.
func (m *mesh) echo(t *testing.T, msg string) {
	t.Helper()
	roundTripEcho(t, m.client.Outbound["echo"], msg)
}

// openConn opens a long-lived connection through the pair and checks it echoes.
func (m *mesh) openConn(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", m.client.Outbound["echo"], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	connEcho(t, c, "first message")
	return c
}

// connEcho writes msg on an open connection through the echo path and reads it back.
func connEcho(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write on the open connection: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, []byte(msg)) {
		t.Fatalf("open connection: got %q, %v; want %q", buf, err, msg)
	}
}

// TestMesh shares one CA and proxy pair between checks whose state does not
// matter to each other; the rotation check runs last since it renews both.
func TestMesh(t *testing.T) {
	m := startMesh(t, testenv.Exec{})
	m.echo(t, "hello through hopseal")
	t.Run("WorkloadAPI", func(t *testing.T) { testWorkloadAPI(t, m) })
	t.Run("OpenSSLVerify", func(t *testing.T) { testOpenSSLVerify(t, m) })
	t.Run("OpenSSLText", func(t *testing.T) { testOpenSSLText(t, m) })
	t.Run("OpenSSLClient", func(t *testing.T) { testOpenSSLClient(t, m) })
	t.Run("DeniedIdentity", func(t *testing.T) { testDeniedIdentity(t, m) })
	t.Run("SingleUseToken", func(t *testing.T) { testSingleUseToken(t, m) })
	t.Run("Stunnel", func(t *testing.T) { testStunnel(t, m) })
	t.Run("WireProof", func(t *testing.T) { testWireProof(t, m) })
	t.Run("RotationDuringStream", func(t *testing.T) { testRotationDuringStream(t, m) })
}
