package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/testenv"
)

// stunnelConf is one stunnel service holding an SVID read from a proxy's
// data_dir and verifying its peer against the hopseal bundle, TLS 1.3 only.
const stunnelConf = `foreground = yes
pid =
[%s]
client = %s
accept = %s
connect = %s
cert = %s/svid.pem
key = %s/svid.key
CAfile = %s
verifyChain = yes
sslVersionMin = TLSv1.3
`

func startStunnel(t *testing.T, m *mesh, name, client, connect, dataDir string) string {
	t.Helper()
	accept := testenv.FreePort(t) // stunnel cannot report a port 0 binding
	path := filepath.Join(m.dir, "stunnel-"+name+".conf")
	conf := fmt.Sprintf(stunnelConf, name, client, accept, connect, dataDir, dataDir, m.ca.BundleFile)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, m.dir, "stunnel", path)
	testenv.WaitDial(t, accept, 10*time.Second)
	return accept
}

// testStunnel: stunnel, an independent TLS peer, talks to hopseal both ways:
// as a client with the client's SVID into the server proxy's inbound, and as
// a server with the server's SVID behind a hopseal outbound.
func testStunnel(t *testing.T, m *mesh) {
	testenv.RequireTool(t, "stunnel")
	t.Run("stunnel client to hopseal inbound", func(t *testing.T) {
		accept := startStunnel(t, m, "to-hopseal", "yes", m.server.Inbound["echo"], filepath.Join(m.dir, "client-data"))
		roundTripEcho(t, accept, "via stunnel into hopseal")
		l := m.server.Connection(t, func(l map[string]any) bool {
			return testenv.Str(l, "listener") == "echo" && testenv.Num(l, "bytes_up") == float64(len("via stunnel into hopseal"))
		})
		if testenv.Str(l, "peer_id") != clientID || testenv.Str(l, "tls_version") != "TLS 1.3" {
			t.Errorf("server proxy logged %v; want peer %s over TLS 1.3", l, clientID)
		}
	})
	t.Run("hopseal outbound to stunnel server", func(t *testing.T) {
		accept := startStunnel(t, m, "from-hopseal", "no", testenv.EchoServer(t), filepath.Join(m.dir, "server-data"))
		f := m.ca.ProxyFile(t, clientID)
		f.Outbound = []config.OutboundFile{{Name: "stunnel", Upstream: accept, ServerID: serverID}}
		p := testenv.StartProxy(t, m.exec, m.dir, "to-stunnel", f)
		roundTripEcho(t, p.Outbound["stunnel"], "via hopseal into stunnel")
		l := p.Connection(t, func(l map[string]any) bool { return testenv.Str(l, "listener") == "stunnel" })
		if testenv.Str(l, "decision") != "allow" || testenv.Str(l, "peer_id") != serverID || testenv.Str(l, "tls_version") != "TLS 1.3" {
			t.Errorf("outbound to stunnel logged %v; want allow, peer %s, TLS 1.3", l, serverID)
		}
	})
}

func roundTripEcho(t *testing.T, addr, msg string) {
	t.Helper()
	got, err := testenv.RoundTrip(addr, []byte(msg), 10*time.Second)
	if err != nil || string(got) != msg {
		t.Fatalf("echo via %s: got %q, %v; want %q", addr, got, err, msg)
	}
}
