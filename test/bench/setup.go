package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	trustDomain = "bench.local"
	clientID    = "spiffe://bench.local/ns/bench/sa/client"
	serverID    = "spiffe://bench.local/ns/bench/sa/server"
	readyWait   = 30 * time.Second
)

// path is one way from the load generator to the app.
type path struct {
	name      string
	from      *pod    // where the load generator runs; nil: in this namespace
	addr      string  // where the load generator connects
	proxies   []*proc // client side, then server side; none for plaintext
	admins    []string
	adminPods []*pod // where each admin address is reachable
	startRSS  []int64
	stop      func()
	tls       func() string // what the pair negotiated, once connections ended
	tlsConf   *tls.Config   // set: the load generator speaks TLS to addr (gateway topology)
}

func (p *path) dial() (net.Conn, error) {
	c, err := p.from.dial(p.addr)
	if err != nil || p.tlsConf == nil {
		return c, err
	}
	return clientTLS(c, p.tlsConf)
}

// logTail is the end of each proxy's output, to explain a failure.
func (p *path) logTail() string {
	var b strings.Builder
	for _, pr := range p.proxies {
		out := pr.output()
		if len(out) > 2000 {
			out = "…" + out[len(out)-2000:]
		}
		fmt.Fprintf(&b, "\n%s (pid %d) output:\n%s", pr.name, pr.pid(), out)
	}
	return b.String()
}

// recordStartRSS notes each proxy's resident memory before any traffic.
func (p *path) recordStartRSS() {
	for _, pr := range p.proxies {
		n, _ := procStatus(pr.pid(), "VmRSS")
		p.startRSS = append(p.startRSS, n)
	}
}

func plainPath(from *pod, appAddr string) *path {
	return &path{name: "plaintext", from: from, addr: appAddr, stop: func() {}, tls: func() string { return "none" }}
}

// launcher runs programs here, or inside a pod as a user ("uid:gid").
type launcher struct {
	pod *pod
	as  string
}

func (l launcher) start(dir string, env []string, label, name string, args ...string) (*proc, error) {
	if l.pod != nil {
		args = l.pod.command(l.as, name, args...)
		name = "ip"
	}
	p, err := start(dir, env, name, args...)
	if err != nil {
		return nil, err
	}
	p.name = label
	return p, nil
}

// startApp runs this program as the app, listening on addr.
func startApp(l launcher, addr string) (*proc, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	a, err := l.start("/", nil, "app", exe, "-serve-app", addr)
	if err != nil {
		return nil, "", err
	}
	line, err := a.textLine(context.Background(), "app listening ", readyWait)
	if err != nil {
		a.stop()
		return nil, "", err
	}
	return a, strings.TrimPrefix(line, "app listening "), nil
}

// ca is a running `hopseal ca serve`.
type ca struct {
	proc     *proc
	addr     string
	bin      string // hopseal, for the CA's commands
	proxyBin string // hopseal-proxy, for the proxies
	dir      string // holds its state dir "ca" and bundle.pem
}

func startCA(ctx context.Context, bin, proxyBin, dir, listen string) (*ca, error) {
	p, err := start(dir, nil, bin, "ca", "serve", "--state-dir", "ca", "--trust-domain", trustDomain,
		"--listen", listen, "--bundle-listen", "")
	if err != nil {
		return nil, err
	}
	p.name = "ca"
	serving, err := p.logLine(ctx, "CA serving", readyWait)
	if err != nil {
		p.stop()
		return nil, err
	}
	c := &ca{proc: p, bin: bin, proxyBin: proxyBin, dir: dir}
	c.addr, _ = serving["issuer_addr"].(string)
	bundle, err := run(ctx, dir, bin, "ca", "bundle", "--state-dir", "ca")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "bundle.pem"), []byte(bundle), 0o644)
	}
	if err != nil {
		p.stop()
		return nil, err
	}
	return c, nil
}

type runningProxy struct {
	proc  *proc
	addrs map[string]string // "inbound.<name>" / "outbound.<name>" → address
	admin string
}

// startProxy runs a proxy for role ("client" or "server") in its own
// directory under the CA's, owned by the user it runs as, with a fresh join
// token and the given configuration after the common part. Its SVID ends up
// in <dir>/<role>/data (svidFiles), where stunnel finds it too.
func (c *ca) startProxy(ctx context.Context, l launcher, env []string, role, rest string, files map[string]string) (*runningProxy, error) {
	id := map[string]string{"client": clientID, "server": serverID}[role]
	dir := filepath.Join(c.dir, role)
	token, err := run(ctx, c.dir, c.bin, "ca", "token", "create", "--state-dir", "ca", "--spiffe-id", id)
	if err != nil {
		return nil, err
	}
	files["token"] = token
	files["proxy.yaml"] = fmt.Sprintf("spiffe_id: %s\nca: {address: %s, bundle_file: ../bundle.pem, join_token_file: token}\ndata_dir: data\n%s", id, c.addr, rest)
	if err := writeOwned(dir, l.as, files); err != nil {
		return nil, err
	}
	p, err := l.start(dir, env, role+"-side hopseal", c.proxyBin, "proxy", "-c", "proxy.yaml")
	if err != nil {
		return nil, err
	}
	listening, err := p.logLine(ctx, "proxy listening", readyWait)
	if err == nil {
		_, err = p.logLine(ctx, "proxy ready", readyWait)
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%s proxy: %w", role, err)
	}
	rp := &runningProxy{proc: p, addrs: map[string]string{}}
	rp.admin, _ = listening["admin"].(string)
	for k, v := range listening {
		if s, ok := v.(string); ok && (strings.HasPrefix(k, "inbound.") || strings.HasPrefix(k, "outbound.")) {
			rp.addrs[k] = s
		}
	}
	return rp, nil
}

// writeOwned creates dir with files in it, owned by as ("uid:gid") if set.
func writeOwned(dir, as string, files map[string]string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	paths := []string{dir}
	for name, content := range files {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			return err
		}
		paths = append(paths, file)
	}
	if as == "" {
		return nil
	}
	u, g, _ := strings.Cut(as, ":")
	uid, _ := strconv.Atoi(u)
	gid, _ := strconv.Atoi(g)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// svidFiles are the certificate and key a hopseal proxy of role keeps.
func svidFiles(hopsealDir, role string) (cert, key string) {
	data := filepath.Join(hopsealDir, role, "data")
	return filepath.Join(data, "svid.pem"), filepath.Join(data, "svid.key")
}

// hopsealTLS reads what the server-side proxy logged about a finished flow.
func hopsealTLS(server *proc) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	line, err := server.logLine(ctx, "connection", time.Second)
	if err != nil {
		return "unknown (no connection log line)"
	}
	return fmt.Sprintf("%v, %v, %v", line["tls_version"], line["cipher_suite"], line["key_exchange"])
}

func stopAll(procs []*proc) {
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
}
