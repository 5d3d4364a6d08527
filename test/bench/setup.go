package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
	name    string
	addr    string  // where the load generator connects
	proxies []*proc // client side, then server side; none for plaintext
	stop    func()
	tls     func() string // what the pair negotiated, once connections ended
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

func direct(appAddr string) *path {
	return &path{name: "plaintext", addr: appAddr, stop: func() {}, tls: func() string { return "none" }}
}

// hopsealPair runs a CA and two `hopseal proxy` processes:
// client → outbound listener → mTLS → inbound listener → app.
func hopsealPair(ctx context.Context, bin string, env []string, dir, appAddr string) (_ *path, err error) {
	var procs []*proc
	p := &path{name: "hopseal", stop: func() { stopAll(procs) }}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	ca, err := start(dir, nil, bin, "ca", "serve", "--state-dir", "ca", "--trust-domain", trustDomain,
		"--listen", "127.0.0.1:0", "--bundle-listen", "")
	if err != nil {
		return nil, err
	}
	procs = append(procs, ca)
	serving, err := ca.logLine(ctx, "CA serving", readyWait)
	if err != nil {
		return nil, err
	}
	caAddr, _ := serving["issuer_addr"].(string)
	bundle, err := run(ctx, dir, bin, "ca", "bundle", "--state-dir", "ca")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.pem"), []byte(bundle), 0o644); err != nil {
		return nil, err
	}
	server, err := startProxy(ctx, bin, env, dir, "server", caAddr, fmt.Sprintf(
		"inbound:\n  - {name: app, listen: 127.0.0.1:0, forward: %s, allow: [%s]}\n", appAddr, clientID))
	if err != nil {
		return nil, err
	}
	procs = append(procs, server.proc)
	client, err := startProxy(ctx, bin, env, dir, "client", caAddr, fmt.Sprintf(
		"outbound:\n  - {name: app, listen: 127.0.0.1:0, upstream: %s, server_id: %s}\n", server.addrs["inbound.app"], serverID))
	if err != nil {
		return nil, err
	}
	procs = append(procs, client.proc)
	p.addr = client.addrs["outbound.app"]
	p.proxies = []*proc{client.proc, server.proc}
	p.tls = func() string { return hopsealTLS(server.proc) }
	return p, nil
}

type runningProxy struct {
	proc  *proc
	addrs map[string]string // "inbound.<name>" / "outbound.<name>" → address
}

// startProxy obtains a join token for role's identity and runs a proxy with
// the given listener section.
func startProxy(ctx context.Context, bin string, env []string, dir, role, caAddr, listeners string) (*runningProxy, error) {
	id := map[string]string{"client": clientID, "server": serverID}[role]
	token, err := run(ctx, dir, bin, "ca", "token", "create", "--state-dir", "ca", "--spiffe-id", id)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, role+".tok"), []byte(token), 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("spiffe_id: %s\nca: {address: %s, bundle_file: bundle.pem, join_token_file: %s.tok}\ndata_dir: %s-data\n%s",
		id, caAddr, role, role, listeners)
	if err := os.WriteFile(filepath.Join(dir, role+".yaml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p, err := start(dir, env, bin, "proxy", "-c", role+".yaml")
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
	addrs := map[string]string{}
	for k, v := range listening {
		if s, ok := v.(string); ok && (strings.HasPrefix(k, "inbound.") || strings.HasPrefix(k, "outbound.")) {
			addrs[k] = s
		}
	}
	return &runningProxy{proc: p, addrs: addrs}, nil
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

// stunnelPair runs stunnel in client mode in front of stunnel in server
// mode, both with the SVIDs the hopseal CA issued to the hopseal proxies
// (data_dir), verifying the peer's chain to the same bundle, TLS 1.3 only,
// with the AEAD hopseal negotiates.
func stunnelPair(ctx context.Context, bin, dir, hopsealDir, appAddr string) (_ *path, err error) {
	var procs []*proc
	p := &path{name: "stunnel", stop: func() { stopAll(procs) }}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	serverAddr, clientAddr := freePort(), freePort()
	common := func(role, accept, connect string) string {
		data := filepath.Join(hopsealDir, role+"-data")
		return fmt.Sprintf(`foreground = yes
debug = 6
pid =
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
[app]
accept = %s
connect = %s
cert = %s
key = %s
CAfile = %s
verifyChain = yes
sslVersionMin = TLSv1.3
sslVersionMax = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
`, accept, connect, filepath.Join(data, "svid.pem"), filepath.Join(data, "svid.key"), filepath.Join(hopsealDir, "bundle.pem"))
	}
	confs := map[string]string{
		"server": common("server", serverAddr, appAddr) + "requireCert = yes\n",
		"client": common("client", clientAddr, serverAddr) + "client = yes\n",
	}
	byRole := map[string]*proc{}
	for _, role := range []string{"server", "client"} {
		file := filepath.Join(dir, role+".conf")
		if err := os.WriteFile(file, []byte(confs[role]), 0o600); err != nil {
			return nil, err
		}
		sp, err := start(dir, nil, bin, file)
		if err != nil {
			return nil, err
		}
		procs = append(procs, sp)
		if _, err := sp.textLine(ctx, "Configuration successful", readyWait); err != nil {
			return nil, fmt.Errorf("stunnel %s: %w", role, err)
		}
		byRole[role] = sp
	}
	p.addr = clientAddr
	p.proxies = []*proc{byRole["client"], byRole["server"]}
	p.tls = func() string { return stunnelTLS(byRole["client"]) }
	return p, nil
}

// stunnelTLS reads the negotiated parameters from stunnel's info log.
func stunnelTLS(client *proc) string {
	out := client.output()
	var parts []string
	for _, key := range []string{" ciphersuite: ", "Peer temporary key: ", "Negotiated TLSv1.3 group: "} {
		for l := range strings.Lines(out) {
			if i := strings.Index(l, key); i >= 0 {
				parts = append(parts, strings.TrimSpace(l[i:]))
				break
			}
		}
	}
	if len(parts) == 0 {
		return "unknown (not in stunnel's log)"
	}
	return strings.Join(parts, "; ")
}

func stopAll(procs []*proc) {
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
}

// freePort returns a loopback address whose port was free just now
// (stunnel cannot listen on port 0 and report it).
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}
