// Package config reads hopseal's proxy configuration file: strict YAML
// decoding into a file-shaped struct, then validation into a runtime value.
// Every error names the key path, the bad value and the fix.
package config

import (
	"fmt"
	"net"
	"strconv"

	"github.com/hopseal/hopseal/internal/yamlfile"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// MaxFileSize caps a configuration file before parsing.
const MaxFileSize = 1 << 20

// ProxyFile is the YAML file as written by users.
type ProxyFile struct {
	SPIFFEID    string           `yaml:"spiffe_id"`
	TrustDomain string           `yaml:"trust_domain"`
	CA          CAFile           `yaml:"ca"`
	DataDir     string           `yaml:"data_dir"`
	WorkloadAPI WorkloadFile     `yaml:"workload_api"`
	Admin       AdminFile        `yaml:"admin"`
	Inbound     []InboundFile    `yaml:"inbound"`
	Outbound    []OutboundFile   `yaml:"outbound"`
	Transparent *TransparentFile `yaml:"transparent"`
	// ControlPlane replaces transparent mode's policy and discovery files
	// and its mode with the controller's stream (on Kubernetes).
	ControlPlane *ControlPlaneFile `yaml:"control_plane"`
}

type CAFile struct {
	Address       string `yaml:"address"`
	BundleFile    string `yaml:"bundle_file"`
	JoinTokenFile string `yaml:"join_token_file"`
	// TokenFile is a projected Kubernetes service-account token (audience
	// hopseal), attested by the CA instead of a join token.
	TokenFile string `yaml:"token_file"`
	SVIDTTL   string `yaml:"svid_ttl"`
}

// ControlPlaneFile names the controller and the pod whose view it streams.
type ControlPlaneFile struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	Pod       string `yaml:"pod"`
}

type WorkloadFile struct {
	Socket string `yaml:"socket"`
}

type AdminFile struct {
	Listen string `yaml:"listen"`
}

type InboundFile struct {
	Name    string   `yaml:"name"`
	Listen  string   `yaml:"listen"`
	Forward string   `yaml:"forward"`
	Allow   []string `yaml:"allow"`
}

type OutboundFile struct {
	Name     string `yaml:"name"`
	Listen   string `yaml:"listen"`
	Upstream string `yaml:"upstream"`
	ServerID string `yaml:"server_id"`
}

// Proxy is a validated configuration. File paths are not read yet.
type Proxy struct {
	Identity
	WorkloadSocket string
	AdminListen    string
	Inbound        []Inbound
	Outbound       []Outbound
	Transparent    *Transparent  // nil unless interception mode is configured
	ControlPlane   *ControlPlane // nil: policy, discovery and mode come from files
}

// ControlPlane is a validated ControlPlaneFile.
type ControlPlane struct {
	Address, Namespace, Pod string
}

type Inbound struct {
	Name    string
	Listen  string
	Forward string
	Allow   []spiffeid.ID
}

type Outbound struct {
	Name     string
	Listen   string
	Upstream string
	ServerID spiffeid.ID
}

// ParseProxy decodes YAML strictly (unknown keys are errors) and validates it.
func ParseProxy(data []byte) (*Proxy, error) {
	var f ProxyFile
	if err := yamlfile.Decode(data, &f, MaxFileSize, "config", "config: file is empty; see the README for an example proxy configuration"); err != nil {
		return nil, err
	}
	return f.Validate()
}

// Validate checks the file and returns the runtime configuration. It never
// changes f; all problems are reported together.
func (f ProxyFile) Validate() (*Proxy, error) {
	errs := yamlfile.Problems{Title: "config: invalid proxy configuration"}
	id := validateIdentity(&errs, f.SPIFFEID, f.TrustDomain, f.CA, f.DataDir)
	p := &Proxy{Identity: id, WorkloadSocket: f.WorkloadAPI.Socket, AdminListen: f.Admin.Listen}
	if f.Admin.Listen != "" {
		checkAddr(&errs, "admin.listen", f.Admin.Listen, false)
	}
	if f.Transparent != nil {
		p.Transparent = f.Transparent.validate(&errs)
	}
	if f.ControlPlane != nil {
		p.ControlPlane = f.ControlPlane.validate(&errs, f.Transparent)
	}
	if len(f.Inbound) == 0 && len(f.Outbound) == 0 && f.Transparent == nil {
		errs.Add("inbound", "", "and outbound are both empty and transparent is not set; configure at least one listener")
	}
	listens := map[string]string{}
	names := map[string]string{}
	unique := func(path, kind, v string, seen map[string]string) {
		if v == "" {
			return
		}
		if prev, dup := seen[v]; dup {
			errs.Add(path, v, "is already used by %s; each %s must be unique", prev, kind)
			return
		}
		seen[v] = path
	}
	// Port 0 asks for a fresh port each time, so it never clashes.
	uniqueListen := func(path, v string) {
		if _, port, err := net.SplitHostPort(v); err != nil || port != "0" {
			unique(path, "listen address", v, listens)
		}
	}
	uniqueListen("admin.listen", f.Admin.Listen)
	for i, in := range f.Inbound {
		at := fmt.Sprintf("inbound[%d]", i)
		r := Inbound{Name: in.Name, Listen: in.Listen, Forward: in.Forward}
		if r.Name == "" {
			r.Name = "inbound-" + strconv.Itoa(i)
		}
		unique(at+".name", "name", r.Name, names)
		checkAddr(&errs, at+".listen", in.Listen, false)
		uniqueListen(at+".listen", in.Listen)
		checkAddr(&errs, at+".forward", in.Forward, true)
		if len(in.Allow) == 0 {
			errs.Add(at+".allow", "", "is empty, so every peer would be refused; list the SPIFFE IDs that may connect")
		}
		for j, s := range in.Allow {
			id, ok := checkID(&errs, fmt.Sprintf("%s.allow[%d]", at, j), s)
			if ok {
				r.Allow = append(r.Allow, id)
			}
		}
		p.Inbound = append(p.Inbound, r)
	}
	for i, out := range f.Outbound {
		at := fmt.Sprintf("outbound[%d]", i)
		r := Outbound{Name: out.Name, Listen: out.Listen, Upstream: out.Upstream}
		if r.Name == "" {
			r.Name = "outbound-" + strconv.Itoa(i)
		}
		unique(at+".name", "name", r.Name, names)
		checkAddr(&errs, at+".listen", out.Listen, false)
		uniqueListen(at+".listen", out.Listen)
		checkAddr(&errs, at+".upstream", out.Upstream, true)
		if out.ServerID == "" {
			errs.Add(at+".server_id", "", "is required: the SPIFFE ID the upstream must prove")
		} else if id, ok := checkID(&errs, at+".server_id", out.ServerID); ok {
			r.ServerID = id
		}
		p.Outbound = append(p.Outbound, r)
	}
	if t := p.Transparent; t != nil {
		uniqueListen("transparent.inbound_listen", t.InboundListen)
		uniqueListen("transparent.outbound_listen", t.OutboundListen)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func checkID(errs *yamlfile.Problems, path, s string) (spiffeid.ID, bool) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		errs.Add(path, s, "is not a SPIFFE ID (%v); write spiffe://<trust-domain>/<path>", err)
		return id, false
	}
	if id.Path() == "" {
		errs.Add(path, s, "names a whole trust domain; write a workload ID such as spiffe://%s/ns/shop/sa/orders", id.TrustDomain())
		return id, false
	}
	return id, true
}

// checkAddr wants host:port; a dial address needs a host, a listen address
// may leave it empty (all interfaces).
func checkAddr(errs *yamlfile.Problems, path, addr string, dial bool) {
	if addr == "" {
		errs.Add(path, "", "is required; write host:port, e.g. 127.0.0.1:8443")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		errs.Add(path, addr, "is not host:port (%v); write e.g. 127.0.0.1:8443", err)
		return
	}
	if dial && host == "" {
		errs.Add(path, addr, "has no host; write e.g. 127.0.0.1%s", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (dial && n == 0) {
		errs.Add(path, addr, "has an invalid port %q; use 1-65535", port)
	}
}
