package integration_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
)

// fileSVID reads an SVID from a proxy's data_dir at each handshake, so a
// peer built on it follows the proxy's renewals.
type fileSVID struct{ dir string }

func (f fileSVID) GetX509SVID() (*x509svid.SVID, error) {
	return x509svid.Load(filepath.Join(f.dir, "svid.pem"), filepath.Join(f.dir, "svid.key"))
}

func loadBundle(t *testing.T, path string) *x509bundle.Bundle {
	t.Helper()
	b, err := x509bundle.Load(spiffeid.RequireTrustDomainFromString(trustDomain), path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// probeServer is a go-spiffe mTLS echo server holding the server proxy's
// identity; it records the serial of each client certificate it sees.
type probeServer struct {
	addr    string
	mu      sync.Mutex // guards serials
	serials []string
}

func startProbe(t *testing.T, serverDataDir, bundleFile string) *probeServer {
	t.Helper()
	p := &probeServer{}
	conf := tlsconfig.MTLSServerConfig(fileSVID{serverDataDir}, loadBundle(t, bundleFile),
		tlsconfig.AuthorizeID(spiffeid.RequireFromString(clientID)))
	p.addr = testenv.ServeTCP(t, func(c net.Conn) {
		tc := tls.Server(c, conf)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			return
		}
		p.mu.Lock()
		p.serials = append(p.serials, pki.SerialString(tc.ConnectionState().PeerCertificates[0].SerialNumber))
		p.mu.Unlock()
		io.Copy(tc, tc)
	})
	return p
}

// lastSerial is the client certificate serial of the latest handshake.
func (p *probeServer) lastSerial() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.serials) == 0 {
		return ""
	}
	return p.serials[len(p.serials)-1]
}

// dialServer connects straight to a server proxy inbound as the client
// workload (its SVID read from the client proxy's data_dir) and returns the
// serial of the certificate the server presented.
func dialServer(t *testing.T, m *mesh, inbound string) string {
	t.Helper()
	conf := tlsconfig.MTLSClientConfig(fileSVID{filepath.Join(m.dir, "client-data")}, loadBundle(t, m.ca.BundleFile),
		tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: conf}
	c, err := d.Dial("tcp", m.server.Inbound[inbound])
	if err != nil {
		t.Fatalf("mTLS dial to the server proxy: %v", err)
	}
	defer c.Close()
	connEcho(t, c, "direct mTLS")
	return pki.SerialString(c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber)
}
