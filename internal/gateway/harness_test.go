package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

const (
	wait      = 10 * time.Second
	gatewayID = "spiffe://demo.local/ns/edge/sa/gateway"
)

// identity is a fixed SVID and bundle from an in-memory CA.
type identity struct {
	svid   *x509svid.SVID
	bundle *x509bundle.Bundle
}

func (i identity) GetX509SVID() (*x509svid.SVID, error) { return i.svid, nil }
func (i identity) GetX509BundleForTrustDomain(spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	return i.bundle, nil
}

// env is one test's trust: the mesh CA (SPIFFE), a public CA for the
// gateway's certificates, and a directory for files.
type env struct {
	t      testing.TB
	dir    string
	mesh   *testpki.CA
	public *testpki.CA
	gw     identity
	// handshake, if set, is the gateway's handshake timeout.
	handshake time.Duration
}

func newEnv(t testing.TB) *env {
	mesh := testpki.New(t, "demo.local")
	return &env{t: t, dir: t.TempDir(), mesh: mesh, public: testpki.New(t, "public.test"),
		gw: identity{svid: mesh.Issue(gatewayID, time.Hour), bundle: mesh.Bundle()}}
}

// webCert writes a certificate for names signed by ca and returns the cert
// and key paths.
func (e *env) webCert(ca *testpki.CA, file string, usage x509.ExtKeyUsage, names ...string) (string, string) {
	e.t.Helper()
	tmpl := ca.Leaf("spiffe://public.test/unused")
	tmpl.URIs, tmpl.DNSNames, tmpl.ExtKeyUsage = nil, names, []x509.ExtKeyUsage{usage}
	chain, key := ca.Sign(tmpl)
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		e.t.Fatal(err)
	}
	certPath, keyPath := e.write(file+".crt", pki.EncodeCerts(chain...)), e.write(file+".key", keyPEM)
	return certPath, keyPath
}

func (e *env) write(name string, data []byte) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// rootFile writes ca's root as a PEM trust file.
func (e *env) rootFile(ca *testpki.CA, name string) string {
	return e.write(name, pki.EncodeCerts(ca.Root))
}

func (e *env) publicRoots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.public.Root)
	return p
}

// running is a gateway serving in-process with its logs.
type running struct {
	gw     *gateway.Gateway
	logs   *testenv.Buffer
	stop   context.CancelFunc
	exited chan struct{}
	err    error // Run's, once exited is closed
}

// start parses yaml (the identity keys are added) and runs the gateway
// until the test ends.
func (e *env) start(yaml string) *running {
	e.t.Helper()
	head := "spiffe_id: " + gatewayID + "\nca: {address: 127.0.0.1:1, bundle_file: unused.pem, join_token_file: unused.tok}\nadmin: {listen: 127.0.0.1:0}\n"
	cfg, err := config.ParseGateway([]byte(head + yaml))
	if err != nil {
		e.t.Fatal(err)
	}
	r := &running{logs: &testenv.Buffer{}, exited: make(chan struct{})}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.gw, err = gateway.New(cfg, gateway.Options{Log: log, Identity: e.gw, HandshakeTimeout: e.handshake, DrainTimeout: 3 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.err = r.gw.Run(ctx); close(r.exited) }()
	e.t.Cleanup(func() {
		cancel()
		<-r.exited
		if r.err != nil {
			e.t.Errorf("Run: %v", r.err)
		}
		if e.t.Failed() {
			e.t.Logf("gateway logs:\n%s", r.logs.String())
		}
	})
	testenv.Eventually(e.t, wait, "gateway ready", func() bool { return r.gw.Ready() == nil })
	return r
}

func (r *running) addr(name string) string { return r.gw.Addr(name).String() }

// lines returns the JSON log lines with msg for which match holds.
func (r *running) lines(msg string, match func(map[string]any) bool) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.logs.String()))
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == msg && (match == nil || match(l)) {
			out = append(out, l)
		}
	}
	return out
}

// waitLine waits for a log line with msg for which match holds.
func (r *running) waitLine(t *testing.T, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var found []map[string]any
	testenv.Eventually(t, wait, "a "+msg+" log line", func() bool {
		found = r.lines(msg, match)
		return len(found) > 0
	})
	return found[0]
}

// metric reads a sample sum from the admin endpoint.
func (r *running) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := testenv.MetricValue(testenv.Scrape(t, r.gw.AdminAddr().String()), name, labels)
	return v
}

// client is an HTTPS client that trusts the public CA and sends every
// request to addr, with SNI from the URL; h2 selects HTTP/2.
func (e *env) client(addr string, h2 bool, prefix func(net.Conn) []byte) *http.Client {
	return httpsClient(e.t, addr, e.publicRoots(), h2, prefix)
}

// httpsClient sends every request to addr and trusts roots. prefix, if
// set, is written first on each connection (a PROXY header).
func httpsClient(t testing.TB, addr string, roots *x509.CertPool, h2 bool, prefix func(net.Conn) []byte) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil && prefix != nil {
				_, err = c.Write(prefix(c))
			}
			return c, err
		},
	}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: wait, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// meshPeer is what a mesh backend saw of one connection.
type meshPeer struct {
	ID   spiffeid.ID
	ALPN string
}

// meshServer is a destination in the mesh: mutual TLS with its own SVID,
// accepting only allow, then plain HTTP (or, for passthrough, the client's
// TLS with app) served by h.
type meshServer struct {
	Addr  string
	mu    sync.Mutex
	peers []meshPeer
}

func (m *meshServer) Peers() []meshPeer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]meshPeer(nil), m.peers...)
}

func (e *env) meshServer(id string, allow spiffeid.ID, app *tls.Config, h http.Handler) *meshServer {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	src := identity{svid: e.mesh.Issue(id, time.Hour), bundle: e.mesh.Bundle()}
	cfg := tlsconf.MTLSServer(src, src, tlsconf.AuthorizeID(allow), time.Now)
	cfg.NextProtos = tlsconf.MeshProtocols()
	m := &meshServer{Addr: ln.Addr().String()}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.Protocols.SetHTTP2(true)
	go srv.Serve(&meshListener{Listener: ln, cfg: cfg, app: app, m: m})
	e.t.Cleanup(func() { srv.Close() })
	return m
}

// meshListener does the mesh handshake in Accept; the connection it
// returns hides its TLS, so the server reads the app's protocol inside.
type meshListener struct {
	net.Listener
	cfg *tls.Config
	app *tls.Config
	m   *meshServer
}

type inner struct{ net.Conn }

func (l *meshListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := tls.Server(c, l.cfg)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err = tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.Close()
			continue
		}
		cs := tc.ConnectionState()
		id, _ := tlsconf.PeerID(cs)
		l.m.mu.Lock()
		l.m.peers = append(l.m.peers, meshPeer{ID: id, ALPN: cs.NegotiatedProtocol})
		l.m.mu.Unlock()
		if l.app != nil {
			return tls.Server(inner{tc}, l.app), nil
		}
		return inner{tc}, nil
	}
}

// echo answers with what the backend saw of the request.
func echo(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s host=%s xff=%s proto=%s fhost=%s",
			name, r.Proto, r.URL.Path, r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"))
	}
}
