package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The gateway topology puts three fronts doing the same job before one
// backend, all on loopback, and measures them side by side:
//
//	terminate:   client ─TLS─► front ═mesh mTLS═► hopseal proxy (inbound) ─HTTP─► app
//	passthrough: client ─TLS (to the app)─► front ═mesh mTLS═► hopseal proxy (inbound) ─► app (TLS)
//
// The fronts are `hopseal gateway`, nginx and haproxy, each one process (with
// nginx's workers) serving both route kinds on two ports. They present the
// same SVID (the gateway's, which the backend proxy allows) and the same
// public certificate. The backend proxy has one inbound listener per front
// and route kind, so its log tells what each front negotiated.
const (
	gateway     = "gateway"
	terminate   = "terminate"
	passthrough = "passthrough"
	gatewayID   = "spiffe://bench.local/ns/bench/sa/gateway"
)

var (
	routeKinds = []string{terminate, passthrough}
	frontNames = []string{"hopseal", "nginx", "haproxy"}
)

// front is one process (with its children) doing the gateway's job.
type front struct {
	name  string
	proc  *proc
	addrs map[string]string // route kind → where clients connect
}

// cpu is the CPU time of the front's process and its children.
func (f *front) cpu() (time.Duration, error) { return treeCPU(f.proc.pid()) }

// meshCreds are the gateway's SVID and the mesh bundle as files that nginx
// and haproxy read.
type meshCreds struct{ cert, key, pem, bundle string }

type gatewayTopology struct {
	fronts     []*front                    // in frontNames order
	paths      map[string]map[string]*path // route kind → front → path
	backend    *runningProxy
	public     map[string]map[string]string // route kind → front → negotiated public TLS
	stop       func()
	stopFronts func()
}

// setupGateway starts the apps, the CA, the backend proxy and the three
// fronts, and checks every path with one request.
func setupGateway(ctx context.Context, o options, work string) (_ *gatewayTopology, err error) {
	t := &gatewayTopology{paths: map[string]map[string]*path{}, public: map[string]map[string]string{}}
	var cleanup cleanups
	t.stop = cleanup.run
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	dir := filepath.Join(work, gateway)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	pub, err := newPublicPKI(dir)
	if err != nil {
		return nil, err
	}
	plainApp, plainAddr, err := startApp(launcher{}, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cleanup.add(plainApp.stop)
	tlsApp, tlsAddr, err := startTLSApp(pub)
	if err != nil {
		return nil, err
	}
	cleanup.add(tlsApp.stop)
	progress("gateway: starting the hopseal CA, the backend proxy and the hopseal gateway")
	c, err := startCA(ctx, o.hopseal, o.hopsealProxy, dir, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cleanup.add(c.proc.stop)
	if t.backend, err = startBackend(ctx, o, c, map[string]string{terminate: plainAddr, passthrough: tlsAddr}); err != nil {
		return nil, err
	}
	cleanup.add(t.backend.proc.stop)
	var fronts []*front
	t.stopFronts = func() {
		for _, f := range fronts {
			f.proc.stop()
		}
	}
	cleanup.add(t.stopFronts)
	hop, err := startGateway(ctx, o, c, pub, t.backendAddrs("hopseal"))
	if err != nil {
		return nil, err
	}
	fronts = append(fronts, hop)
	mesh, err := copyMeshCreds(c.dir, filepath.Join(dir, "mesh"))
	if err != nil {
		return nil, err
	}
	progress("gateway: starting nginx and haproxy")
	ngx, err := startNginx(ctx, o.nginx, filepath.Join(dir, "nginx"), pub, mesh, t.backendAddrs("nginx"))
	if err != nil {
		return nil, err
	}
	fronts = append(fronts, ngx)
	hap, err := startHaproxy(ctx, o.haproxy, filepath.Join(dir, "haproxy"), pub, mesh, t.backendAddrs("haproxy"))
	if err != nil {
		return nil, err
	}
	fronts = append(fronts, hap)
	t.fronts = fronts
	return t, t.probe(pub)
}

// backendName is the backend proxy's inbound listener for a front's route kind.
func backendName(kind, front string) string { return kind + "-" + front }

func (t *gatewayTopology) backendAddrs(front string) map[string]string {
	out := map[string]string{}
	for _, kind := range routeKinds {
		out[kind] = t.backend.addrs["inbound."+backendName(kind, front)]
	}
	return out
}

// startBackend runs the destination's hopseal proxy with an inbound listener
// per front and route kind, each allowing only the gateway's identity:
// terminate listeners forward to the plain app, passthrough ones to the TLS app.
func startBackend(ctx context.Context, o options, c *ca, apps map[string]string) (*runningProxy, error) {
	var b strings.Builder
	b.WriteString("admin: {listen: 127.0.0.1:0}\ninbound:\n")
	for _, kind := range routeKinds {
		for _, f := range frontNames {
			fmt.Fprintf(&b, "  - {name: %s, listen: 127.0.0.1:0, forward: %s, allow: [%s]}\n", backendName(kind, f), apps[kind], gatewayID)
		}
	}
	return c.startProxy(ctx, launcher{}, o.env, "server", b.String(), map[string]string{})
}

// startGateway runs `hopseal gateway` with a listener per route kind, each
// with one route for publicName to its backend listener.
func startGateway(ctx context.Context, o options, c *ca, pub *publicPKI, backends map[string]string) (*front, error) {
	dir := filepath.Join(c.dir, gateway)
	token, err := run(ctx, c.dir, c.bin, "ca", "token", "create", "--state-dir", "ca", "--spiffe-id", gatewayID)
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`spiffe_id: %[1]s
ca: {address: %[2]s, bundle_file: ../bundle.pem, join_token_file: token}
data_dir: data
admin: {listen: 127.0.0.1:0}
listeners:
  - name: %[3]s
    listen: 127.0.0.1:0
    routes:
      - hostname: %[4]s
        mode: terminate
        tls: {cert_file: %[5]s, key_file: %[6]s}
        backends:
          - {path_prefix: /, address: %[7]s, server_id: %[8]s}
  - name: %[9]s
    listen: 127.0.0.1:0
    routes:
      - hostname: %[4]s
        mode: passthrough
        backend: {address: %[10]s, server_id: %[8]s}
`, gatewayID, c.addr, terminate, publicName, pub.certFile, pub.keyFile, backends[terminate], serverID, passthrough, backends[passthrough])
	if err := writeOwned(dir, "", map[string]string{"token": token, "gateway.yaml": conf}); err != nil {
		return nil, err
	}
	p, err := start(dir, o.env, c.bin, "gateway", "-c", "gateway.yaml")
	if err != nil {
		return nil, err
	}
	p.name = "hopseal gateway"
	listening, err := p.logLine(ctx, "gateway listening", readyWait)
	if err == nil {
		_, err = p.logLine(ctx, "gateway ready", readyWait)
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("hopseal gateway: %w", err)
	}
	f := &front{name: "hopseal", proc: p, addrs: map[string]string{}}
	for _, kind := range routeKinds {
		f.addrs[kind], _ = listening["listener."+kind].(string)
	}
	return f, nil
}

// copyMeshCreds copies the gateway's SVID (which its agent keeps in its
// data_dir) for nginx and haproxy: the same identity, so the backend
// proxy's allow list is the same for all three fronts.
func copyMeshCreds(caDir, dir string) (meshCreds, error) {
	m := meshCreds{cert: filepath.Join(dir, "svid.pem"), key: filepath.Join(dir, "svid.key"),
		pem: filepath.Join(dir, "svid-and-key.pem"), bundle: filepath.Join(caDir, "bundle.pem")}
	data := filepath.Join(caDir, gateway, "data")
	cert, err1 := os.ReadFile(filepath.Join(data, "svid.pem"))
	key, err2 := os.ReadFile(filepath.Join(data, "svid.key"))
	if err := errors.Join(err1, err2); err != nil {
		return m, fmt.Errorf("the hopseal gateway's SVID: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return m, err
	}
	for file, b := range map[string][]byte{m.cert: cert, m.key: key, m.pem: append(append([]byte{}, cert...), key...)} {
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return m, err
		}
	}
	return m, nil
}

// probe builds the paths and sends one request through each, noting the
// public TLS it negotiated: every front must work before anything is timed.
func (t *gatewayTopology) probe(pub *publicPKI) error {
	for _, kind := range routeKinds {
		t.paths[kind], t.public[kind] = map[string]*path{}, map[string]string{}
		for _, f := range t.fronts {
			p := &path{name: f.name + " " + kind, addr: f.addrs[kind], proxies: []*proc{f.proc},
				stop: func() {}, tls: func() string { return "" }, tlsConf: pub.clientConfig()}
			h, err := openHTTP(p)
			if err != nil {
				return fmt.Errorf("%s: %w%s", p.name, err, p.logTail())
			}
			t.public[kind][f.name] = negotiated(h.Conn.(*tls.Conn).ConnectionState())
			h.Close()
			t.paths[kind][f.name] = p
		}
	}
	return nil
}

// meshTLS reads, from the backend proxy's connection log lines, what each
// front negotiated on the mesh hop and which identity it presented. Run it
// after the fronts stopped, so their pooled connections have ended.
func (t *gatewayTopology) meshTLS(ctx context.Context) (params, ids map[string]string) {
	params, ids = map[string]string{}, map[string]string{}
	for _, f := range frontNames {
		line, err := t.backend.proc.logLineWith(ctx, "connection", "listener", backendName(terminate, f), 2*time.Second)
		if err != nil {
			params[f], ids[f] = "unknown (no connection log line)", "unknown"
			continue
		}
		params[f] = fmt.Sprintf("%v, %v, %v", line["tls_version"], line["cipher_suite"], line["key_exchange"])
		ids[f] = fmt.Sprint(line["peer_id"])
	}
	return params, ids
}

// runGateway measures the gateway topology and summarizes it.
func runGateway(ctx context.Context, o options, work string) (*report, error) {
	if o.rounds < 1 {
		return nil, errors.New("-rounds must be at least 1 for the gateway topology (it measures no idle memory)")
	}
	if o.soak != "" {
		return nil, errors.New("-soak works with the loopback and transparent topologies only")
	}
	t, err := setupGateway(ctx, o, work)
	if err != nil {
		return nil, err
	}
	defer t.stop()
	samples, err := gatewayRounds(ctx, o, t)
	if err != nil {
		return nil, err
	}
	settings := gatewaySettings(o, t)
	t.stopFronts()
	params, ids := t.meshTLS(ctx)
	r := summarizeGateway(o, samples, settings)
	r.machine = gatewayMachine(o, t, params, ids)
	return r, nil
}
