package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// topology is a set of paths to the same kind of app, measured side by
// side: plaintext, a hopseal pair and a stunnel pair.
type topology struct {
	name  string
	paths []*path // plaintext, hopseal, stunnel
	stop  func()
}

// Topologies, as -topology names them.
const (
	loopback    = "loopback"
	transparent = "transparent"
)

// setupLoopback runs everything on loopback in this namespace, hopseal with
// explicit listeners (the README's configuration):
//
//	plaintext: load generator → app
//	hopseal:   load generator → outbound listener ═mTLS═ inbound listener → app
//	stunnel:   load generator → stunnel (client)  ═mTLS═ stunnel (server) → app
func setupLoopback(ctx context.Context, o options, work string) (_ *topology, err error) {
	t := &topology{name: loopback}
	var cleanup cleanups
	t.stop = cleanup.run
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	here := launcher{}
	app, appAddr, err := startApp(here, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cleanup.add(app.stop)
	dir := filepath.Join(work, "loopback")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	progress("loopback: starting the hopseal CA and proxy pair")
	c, err := startCA(ctx, o.hopseal, o.hopsealProxy, dir, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cleanup.add(c.proc.stop)
	server, err := c.startProxy(ctx, here, o.env, "server", fmt.Sprintf(
		"admin: {listen: 127.0.0.1:0}\ninbound:\n  - {name: app, listen: 127.0.0.1:0, forward: %s, allow: [%s]}\n", appAddr, clientID), map[string]string{})
	if err != nil {
		return nil, err
	}
	cleanup.add(server.proc.stop)
	client, err := c.startProxy(ctx, here, o.env, "client", fmt.Sprintf(
		"admin: {listen: 127.0.0.1:0}\noutbound:\n  - {name: app, listen: 127.0.0.1:0, upstream: %s, server_id: %s}\n", server.addrs["inbound.app"], serverID), map[string]string{})
	if err != nil {
		return nil, err
	}
	cleanup.add(client.proc.stop)
	hp := &path{name: "hopseal", addr: client.addrs["outbound.app"], proxies: []*proc{client.proc, server.proc},
		admins: []string{client.admin, server.admin}, adminPods: []*pod{nil, nil}, stop: func() {},
		tls: func() string { return hopsealTLS(server.proc) }}
	hp.recordStartRSS()

	progress("loopback: starting the stunnel pair")
	serverAddr, clientAddr := freePort(), freePort()
	sp, err := stunnelPair(ctx, o.stunnel, filepath.Join(work, "stunnel-loopback"), dir, []stunnelSide{
		{role: "server", at: here, accept: serverAddr, connect: appAddr},
		{role: "client", at: here, accept: clientAddr, connect: serverAddr},
	})
	if err != nil {
		return nil, err
	}
	cleanup.add(sp.stop)
	sp.addr = clientAddr
	t.paths = []*path{plainPath(nil, appAddr), hp, sp}
	return t, nil
}

// cleanups are what a setup started, stopped in reverse order.
type cleanups []func()

func (c *cleanups) add(stop func()) { *c = append(*c, stop) }

func (c *cleanups) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}

// appPort is where the app listens in its pod.
const appPort = 8080

// setupTransparent builds pods on a bridge, as a node runs them, and
// intercepts with init-net in the meshed pair:
//
//	plaintext: [client: load generator] ───────────────────────────────────────► [server: app]
//	hopseal:   [hs-client: load generator → init-net → hopseal] ═mTLS═► [hs-server: init-net → hopseal → app]
//	stunnel:   [client: load generator → stunnel (client)] ═mTLS═► [server: stunnel (server) → app]
//
// The load generator connects to the server pod's app address in both the
// plaintext and the hopseal path: interception is invisible to it. The CA
// listens on the bridge in the root namespace.
func setupTransparent(ctx context.Context, o options, work string) (_ *topology, err error) {
	t := &topology{name: transparent}
	var cleanup cleanups
	t.stop = cleanup.run
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	if err := reachable(o.hopsealProxy); err != nil {
		return nil, err
	}
	progress("transparent: building pods")
	br, err := newBridge()
	if err != nil {
		return nil, err
	}
	cleanup.add(br.close)
	pods := map[string]*pod{}
	for _, name := range []string{"client", "server", "hs-client", "hs-server"} {
		if pods[name], err = br.addPod(name); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"server", "hs-server"} {
		app, _, err := startApp(launcher{pod: pods[name]}, fmt.Sprintf("0.0.0.0:%d", appPort))
		if err != nil {
			return nil, fmt.Errorf("app in pod %s: %w", name, err)
		}
		cleanup.add(app.stop)
	}
	dir := filepath.Join(work, "transparent")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	progress("transparent: starting the hopseal CA, init-net and a proxy in each meshed pod")
	c, err := startCA(ctx, o.hopseal, o.hopsealProxy, dir, br.hostIP.String()+":0")
	if err != nil {
		return nil, err
	}
	cleanup.add(c.proc.stop)
	hp, stop, err := meshedPods(ctx, o, c, pods["hs-client"], pods["hs-server"])
	cleanup.add(stop)
	if err != nil {
		return nil, err
	}

	progress("transparent: starting the stunnel pair")
	stunnelPort := fmt.Sprintf("%d", 8443)
	sp, err := stunnelPair(ctx, o.stunnel, filepath.Join(work, "stunnel-transparent"), dir, []stunnelSide{
		{role: "server", at: launcher{pod: pods["server"]}, accept: "0.0.0.0:" + stunnelPort, connect: fmt.Sprintf("127.0.0.1:%d", appPort)},
		{role: "client", at: launcher{pod: pods["client"]}, accept: "127.0.0.1:" + stunnelPort, connect: pods["server"].ip.String() + ":" + stunnelPort},
	})
	if err != nil {
		return nil, err
	}
	cleanup.add(sp.stop)
	sp.from, sp.addr = pods["client"], "127.0.0.1:"+stunnelPort
	t.paths = []*path{plainPath(pods["client"], pods["server"].addr(appPort)), hp, sp}
	return t, nil
}

// proxyUser is the UID:GID init-net exempts by default.
const proxyUser = "1443:1443"

// meshedPods installs init-net's rules in both pods and runs a transparent
// proxy in each, as UID 1443, with discovery naming both pods and a policy
// that lets the client reach the app.
func meshedPods(ctx context.Context, o options, c *ca, client, server *pod) (*path, func(), error) {
	var procs []*proc
	stop := func() { stopAll(procs) }
	for _, p := range []*pod{client, server} {
		if err := p.run(o.hopsealProxy, "init-net"); err != nil {
			return nil, stop, err
		}
	}
	discovery := fmt.Sprintf("workloads:\n  - {spiffe_id: %s, addresses: [%s]}\n  - {spiffe_id: %s, addresses: [%s]}\n",
		clientID, client.ip, serverID, server.ip)
	policy := fmt.Sprintf("rules:\n  - name: bench-client-to-app\n    ports: [%d]\n    from:\n      - spiffe_id: %s\n", appPort, clientID)
	rest := "admin: {listen: 127.0.0.1:14090}\ntransparent:\n  policy_file: policy.yaml\n  discovery_file: discovery.yaml\n"
	byRole := map[string]*runningProxy{}
	for _, side := range []struct {
		role string
		pod  *pod
	}{{"server", server}, {"client", client}} {
		rp, err := c.startProxy(ctx, launcher{pod: side.pod, as: proxyUser}, o.env, side.role, rest,
			map[string]string{"policy.yaml": policy, "discovery.yaml": discovery})
		if err != nil {
			return nil, stop, err
		}
		procs = append(procs, rp.proc)
		byRole[side.role] = rp
	}
	p := &path{name: "hopseal", from: client, addr: server.addr(appPort),
		proxies:   []*proc{byRole["client"].proc, byRole["server"].proc},
		admins:    []string{byRole["client"].admin, byRole["server"].admin},
		adminPods: []*pod{client, server}, stop: func() {},
		tls: func() string { return hopsealTLS(byRole["server"].proc) }}
	p.recordStartRSS()
	return p, stop, nil
}

// reachable checks that UID 1443 can run the binary at path.
func reachable(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("-hopseal %s: the proxy runs as UID 1443, which cannot reach %s (mode %v); chmod o+x it or put the binary elsewhere", path, p, fi.Mode().Perm())
		}
		if p == "/" {
			return nil
		}
	}
}

func setupTopology(ctx context.Context, name string, o options, work string) (*topology, error) {
	switch name {
	case loopback:
		return setupLoopback(ctx, o, work)
	case transparent:
		return setupTransparent(ctx, o, work)
	}
	return nil, errors.New("unknown topology " + strings.TrimSpace(name))
}
