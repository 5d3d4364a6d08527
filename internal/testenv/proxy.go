package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hopseal/hopseal/internal/config"
)

// Proxy is a `hopseal proxy` process and the addresses it logged.
type Proxy struct {
	Name     string
	Path     string           // the YAML file it runs
	File     config.ProxyFile // what the file holds
	Proc     *Proc
	Inbound  map[string]string // listener name → bound address
	Outbound map[string]string
	Admin    string
}

// ProxyFile is a baseline configuration for id that joins c with a fresh
// single-use token; add listeners and pass it to StartProxy.
func (c *CA) ProxyFile(t testing.TB, id string) config.ProxyFile {
	t.Helper()
	return config.ProxyFile{
		SPIFFEID: id,
		CA:       config.CAFile{Address: c.IssuerAddr, BundleFile: c.BundleFile, JoinTokenFile: c.Token(t, id)},
	}
}

// WriteProxyConfig fills empty listen addresses and writes dir/name.yaml.
// Each listener gets its own loopback address with port 0, so packet
// captures and logs tell a proxy's listeners apart by address alone.
func WriteProxyConfig(t testing.TB, dir, name string, f config.ProxyFile) (string, config.ProxyFile) {
	t.Helper()
	host := 1
	next := func(addr *string) {
		if *addr == "" {
			*addr = fmt.Sprintf("127.0.0.%d:0", host)
		}
		host++
	}
	next(&f.Admin.Listen)
	f.Inbound = append([]config.InboundFile(nil), f.Inbound...)
	for i := range f.Inbound {
		next(&f.Inbound[i].Listen)
	}
	f.Outbound = append([]config.OutboundFile(nil), f.Outbound...)
	for i := range f.Outbound {
		next(&f.Outbound[i].Listen)
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, f
}

// LaunchProxy writes the configuration and starts the proxy without waiting
// for it, for tests that expect it to fail.
func LaunchProxy(t testing.TB, e Exec, dir, name string, f config.ProxyFile) *Proxy {
	t.Helper()
	path, f := WriteProxyConfig(t, dir, name, f)
	return &Proxy{Name: name, Path: path, File: f, Proc: e.Start(t, dir, "proxy", "-c", path)}
}

// StartProxy starts a proxy and waits until it holds an SVID and serves.
func StartProxy(t testing.TB, e Exec, dir, name string, f config.ProxyFile) *Proxy {
	t.Helper()
	p := LaunchProxy(t, e, dir, name, f)
	p.WaitReady(t)
	return p
}

// WaitReady waits for "proxy listening" and "proxy ready" and records the
// bound addresses.
func (p *Proxy) WaitReady(t testing.TB) {
	t.Helper()
	line := p.Proc.WaitLogLines(t, "proxy listening", 1, 20*time.Second)[0]
	p.Inbound, p.Outbound = map[string]string{}, map[string]string{}
	for _, in := range p.File.Inbound {
		p.Inbound[in.Name] = Str(line, "inbound."+in.Name)
	}
	for _, out := range p.File.Outbound {
		p.Outbound[out.Name] = Str(line, "outbound."+out.Name)
	}
	p.Admin = Str(line, "admin")
	p.Proc.WaitLogLines(t, "proxy ready", 1, 30*time.Second)
}

// SIGHUP asks the proxy to renew its SVID now.
func (p *Proxy) SIGHUP(t testing.TB) {
	t.Helper()
	if err := p.Proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP %s: %v", p.Name, err)
	}
}

// Serials are the SVID serials the proxy logged in "SVID updated" lines, oldest first.
func (p *Proxy) Serials() []string {
	var out []string
	for _, l := range p.Proc.LogLines("SVID updated") {
		out = append(out, Str(l, "serial"))
	}
	return out
}

// WaitSerials waits until the proxy has logged n SVIDs and returns their serials.
func (p *Proxy) WaitSerials(t testing.TB, n int) []string {
	t.Helper()
	p.Proc.WaitLogLines(t, "SVID updated", n, 30*time.Second)
	return p.Serials()
}

// Connection waits for the proxy's "connection" line for which match holds.
func (p *Proxy) Connection(t testing.TB, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return p.Proc.WaitLogMatch(t, "connection", 10*time.Second, match)
}
