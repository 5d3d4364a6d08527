package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/yamlfile"
)

// GatewayFile is the gateway's YAML file as written by users. The identity,
// CA, admin and data_dir keys are the proxy file's.
type GatewayFile struct {
	SPIFFEID    string                `yaml:"spiffe_id"`
	TrustDomain string                `yaml:"trust_domain"`
	CA          CAFile                `yaml:"ca"`
	DataDir     string                `yaml:"data_dir"`
	Admin       AdminFile             `yaml:"admin"`
	Listeners   []GatewayListenerFile `yaml:"listeners"`
}

type GatewayListenerFile struct {
	Name          string `yaml:"name"`
	Listen        string `yaml:"listen"`
	ProxyProtocol bool   `yaml:"proxy_protocol"`
	ClientCAFile  string `yaml:"client_ca_file"`
	// TrustedForwarders are the load balancers whose X-Forwarded-For the
	// gateway believes (addresses or CIDRs).
	TrustedForwarders []string      `yaml:"trusted_forwarders"`
	RedirectHTTPS     *RedirectFile `yaml:"redirect_https"`
	Routes            []RouteFile   `yaml:"routes"`
}

type RedirectFile struct {
	Port int `yaml:"port"`
}

type RouteFile struct {
	Hostname string        `yaml:"hostname"`
	Mode     string        `yaml:"mode"`
	TLS      *RouteTLSFile `yaml:"tls"`
	ACME     *ACMEFile     `yaml:"acme"`
	HSTS     *HSTSFile     `yaml:"hsts"`
	Backend  *BackendFile  `yaml:"backend"`
	Backends []BackendFile `yaml:"backends"`
}

type RouteTLSFile struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

type HSTSFile struct {
	MaxAge            string `yaml:"max_age"`
	IncludeSubdomains bool   `yaml:"include_subdomains"`
	Preload           bool   `yaml:"preload"`
}

type BackendFile struct {
	PathPrefix string `yaml:"path_prefix"`
	Address    string `yaml:"address"`
	ServerID   string `yaml:"server_id"`
	Protocol   string `yaml:"protocol"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	Weight     *int   `yaml:"weight"`
	// unresolved: a backend the controller could not resolve (no file
	// sets it); it becomes a Backend without an address.
	unresolved bool
}

// Route modes.
const (
	Terminate   = "terminate"   // public TLS ends here; HTTP into the mesh
	Passthrough = "passthrough" // the client's TLS, relayed inside mesh mTLS
	Reencrypt   = "reencrypt"   // public TLS ends here; new TLS to a non-mesh backend
)

// App protocols a terminate route's mesh backend may speak.
const (
	HTTP1 = "http1"
	HTTP2 = "http2" // cleartext HTTP/2 with prior knowledge (h2c), as gRPC servers speak
)

// DefaultRedirectPort is where redirect_https sends clients by default.
const DefaultRedirectPort = 443

// Gateway is a validated gateway configuration. File paths are not read yet.
type Gateway struct {
	Identity
	AdminListen string
	Listeners   []GatewayListener
}

type GatewayListener struct {
	Name, Listen  string
	ProxyProtocol bool   // every connection must start with a PROXY v1 or v2 header
	ClientCAFile  string // "": no client certificate asked for
	RedirectPort  int    // non-zero: the listener only redirects to https on this port
	// TrustedForwarders: a request from one of these (a load balancer that
	// ends TLS, as an ALB does) keeps its X-Forwarded-For and -Proto.
	TrustedForwarders []netip.Prefix
	Routes            []Route
}

type Route struct {
	Hostname          string // lowercase; a leading "*." matches exactly one label
	Mode              string
	CertFile, KeyFile string   // terminate and reencrypt
	Cert              *CertPEM // in place of the files: a certificate held in memory (from the controller)
	ACME              *ACME    // in place of the files: certificates from an ACME directory
	HSTS              *HSTS
	// Backends: a terminate route's by path prefix; one for the others.
	Backends []Backend
}

// HSTS is a Strict-Transport-Security policy.
type HSTS struct {
	MaxAge            time.Duration
	IncludeSubdomains bool
	Preload           bool
}

// Header is the Strict-Transport-Security header value.
func (h HSTS) Header() string {
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

type Backend struct {
	PathPrefix string      // terminate routes: "/" is the default backend
	Address    string      // host:port; "" only from the controller: a backend that did not resolve, answered with 500
	ServerID   spiffeid.ID // mesh backends: the SPIFFE ID the destination must prove
	Protocol   string      // terminate routes: HTTP1 or HTTP2
	CAFile     string      // reencrypt: the CA that signed the backend's certificate
	ServerName string      // reencrypt: the name verified in its certificate
	// Weight is the backend's share of its path prefix's requests among
	// the route's backends with the same prefix (terminate; default 1, 0
	// takes none).
	Weight int
}

// ParseGateway decodes YAML strictly (unknown keys are errors) and validates it.
func ParseGateway(data []byte) (*Gateway, error) {
	var f GatewayFile
	if err := yamlfile.Decode(data, &f, MaxFileSize, "config", "config: file is empty; see docs/gateway.md for an example gateway configuration"); err != nil {
		return nil, err
	}
	return f.Validate()
}

// Validate checks the file and returns the runtime configuration. It never
// changes f; all problems are reported together.
func (f GatewayFile) Validate() (*Gateway, error) {
	errs := yamlfile.Problems{Title: "config: invalid gateway configuration"}
	g := &Gateway{Identity: validateIdentity(&errs, f.SPIFFEID, f.TrustDomain, f.CA, f.DataDir), AdminListen: f.Admin.Listen}
	listens := uniqueSet{}
	if f.Admin.Listen != "" {
		checkAddr(&errs, "admin.listen", f.Admin.Listen, false)
		listens.listen(&errs, "admin.listen", f.Admin.Listen)
	}
	if len(f.Listeners) == 0 {
		errs.Add("listeners", "", "is empty; configure at least one listener with routes")
	}
	names := uniqueSet{}
	for i, lf := range f.Listeners {
		at := fmt.Sprintf("listeners[%d]", i)
		l := lf.validate(&errs, at)
		if l.Name == "" {
			l.Name = "listener-" + strconv.Itoa(i)
		}
		names.add(&errs, at+".name", "name", l.Name)
		listens.listen(&errs, at+".listen", lf.Listen)
		g.Listeners = append(g.Listeners, l)
	}
	defaultACMEStorage(&errs, g, f.DataDir)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return g, nil
}

func (lf GatewayListenerFile) validate(errs *yamlfile.Problems, at string) GatewayListener {
	l := GatewayListener{Name: lf.Name, Listen: lf.Listen, ProxyProtocol: lf.ProxyProtocol, ClientCAFile: lf.ClientCAFile}
	checkAddr(errs, at+".listen", lf.Listen, false)
	for j, f := range lf.TrustedForwarders {
		p, err := AddrOrPrefix(f)
		if err != nil {
			errs.Add(fmt.Sprintf("%s.trusted_forwarders[%d]", at, j), f, "is not an address or a CIDR: write for example 10.0.0.0/16 (the load balancer's subnet) or 10.0.3.7")
			continue
		}
		l.TrustedForwarders = append(l.TrustedForwarders, p)
	}
	if r := lf.RedirectHTTPS; r != nil {
		l.RedirectPort = DefaultRedirectPort
		switch {
		case r.Port < 0 || r.Port > 65535:
			errs.Add(at+".redirect_https.port", strconv.Itoa(r.Port), "is not a port; use 1-65535 (default 443)")
		case r.Port != 0:
			l.RedirectPort = r.Port
		}
		if len(lf.Routes) > 0 {
			errs.Add(at+".routes", "", "is set next to redirect_https; a redirect listener only answers 308 to https, so move the routes to a TLS listener")
		}
		if lf.ClientCAFile != "" {
			errs.Add(at+".client_ca_file", lf.ClientCAFile, "is set on a redirect listener, which speaks plain HTTP; move it to a TLS listener")
		}
		if len(lf.TrustedForwarders) > 0 {
			errs.Add(at+".trusted_forwarders", "", "is set on a redirect listener, which never proxies; move it to a TLS listener")
		}
		return l
	}
	if len(lf.Routes) == 0 {
		errs.Add(at+".routes", "", "is empty; add routes, or redirect_https: {port: 443} for a listener that only redirects to https")
	}
	hosts := uniqueSet{}
	for j, rf := range lf.Routes {
		rat := fmt.Sprintf("%s.routes[%d]", at, j)
		r := rf.validate(errs, rat)
		if r.Hostname != "" {
			hosts.add(errs, rat+".hostname", "hostname on this listener", r.Hostname)
		}
		if r.Mode == Passthrough && lf.ClientCAFile != "" {
			errs.Add(rat+".mode", r.Mode, "cannot check the client certificate that %s.client_ca_file requires (passthrough never decrypts); move the route to a listener without client_ca_file", at)
		}
		l.Routes = append(l.Routes, r)
	}
	return l
}

func (rf RouteFile) validate(errs *yamlfile.Problems, at string) Route {
	r := Route{Mode: rf.Mode}
	r.Hostname, _ = checkHostname(errs, at+".hostname", rf.Hostname)
	switch rf.Mode {
	case Terminate, Reencrypt:
		switch {
		case rf.ACME != nil && rf.TLS != nil:
			errs.Add(at+".acme", "", "is set next to tls; the certificate comes from one or the other: remove one")
		case rf.ACME != nil:
			r.ACME = rf.ACME.validate(errs, at+".acme", r.Hostname)
		case rf.TLS == nil:
			errs.Add(at+".tls", "", "is required for a %s route: tls: {cert_file: site.crt, key_file: site.key}, or acme: {directory_url: https://...}", rf.Mode)
		default:
			r.CertFile, r.KeyFile = rf.TLS.CertFile, rf.TLS.KeyFile
			requireFile(errs, at+".tls.cert_file", r.CertFile, "the certificate chain (PEM), leaf first")
			requireFile(errs, at+".tls.key_file", r.KeyFile, "the certificate's private key (PEM)")
		}
		if rf.HSTS != nil {
			r.HSTS = rf.HSTS.validate(errs, at+".hsts")
		}
	case Passthrough:
		if rf.TLS != nil {
			errs.Add(at+".tls", "", "is set on a passthrough route, which never decrypts; the backend serves its own certificate: remove tls, or use mode terminate")
		}
		if rf.ACME != nil {
			errs.Add(at+".acme", "", "is set on a passthrough route, which never decrypts; the backend obtains its own certificate: remove acme, or use mode terminate")
		}
		if rf.HSTS != nil {
			errs.Add(at+".hsts", "", "is set on a passthrough route, which never sees HTTP; let the backend send the header, or use mode terminate")
		}
	case "":
		errs.Add(at+".mode", "", "is required; use terminate, passthrough or reencrypt")
	default:
		errs.Add(at+".mode", rf.Mode, "is not a route mode; use terminate, passthrough or reencrypt")
	}
	r.Backends = rf.validateBackends(errs, at)
	return r
}

func (rf RouteFile) validateBackends(errs *yamlfile.Problems, at string) []Backend {
	if rf.Mode == Terminate {
		if rf.Backend != nil {
			errs.Add(at+".backend", "", "is set on a terminate route, which routes by path: write backends: [{path_prefix: /, address: ..., server_id: ...}]")
		}
		if len(rf.Backends) == 0 {
			errs.Add(at+".backends", "", "is empty; add at least {path_prefix: /, address: host:port, server_id: spiffe://...}")
		}
		var out []Backend
		for i, bf := range rf.Backends {
			bat := fmt.Sprintf("%s.backends[%d]", at, i)
			b := bf.validateMesh(errs, bat, true)
			b.Weight = bf.checkWeight(errs, bat)
			checkPathPrefix(errs, bat+".path_prefix", bf.PathPrefix)
			out = append(out, b)
		}
		rf.checkSplits(errs, at)
		return out
	}
	if len(rf.Backends) > 0 {
		errs.Add(at+".backends", "", "is only for terminate routes; write backend: {...} (one backend)")
	}
	if rf.Backend == nil {
		if rf.Mode == Passthrough || rf.Mode == Reencrypt {
			errs.Add(at+".backend", "", "is required: where the route's connections go")
		}
		return nil
	}
	bat := at + ".backend"
	if rf.Backend.PathPrefix != "" {
		errs.Add(bat+".path_prefix", rf.Backend.PathPrefix, "is only for the backends of terminate routes; remove it")
	}
	if rf.Backend.Weight != nil {
		errs.Add(bat+".weight", strconv.Itoa(*rf.Backend.Weight), "is only for the backends of terminate routes, which split a path prefix's requests; remove it")
	}
	var b Backend
	if rf.Mode == Reencrypt {
		b = rf.Backend.validateTLS(errs, bat)
	} else {
		b = rf.Backend.validateMesh(errs, bat, false)
	}
	b.Weight = 1
	return []Backend{b}
}

// maxWeight bounds a backend's weight, as Gateway API does.
const maxWeight = 1000000

// checkWeight returns the backend's weight, 1 when unset.
func (bf BackendFile) checkWeight(errs *yamlfile.Problems, at string) int {
	switch {
	case bf.Weight == nil:
		return 1
	case *bf.Weight < 0 || *bf.Weight > maxWeight:
		errs.Add(at+".weight", strconv.Itoa(*bf.Weight), "is not a weight; use 0 (no requests) to %d", maxWeight)
		return 0
	}
	return *bf.Weight
}

// checkSplits: backends may share a path prefix only to split its requests
// by weight, so each of them sets one, and some weight is above 0.
func (rf RouteFile) checkSplits(errs *yamlfile.Problems, at string) {
	first := map[string]int{}
	total := map[string]int{}
	for i, bf := range rf.Backends {
		total[bf.PathPrefix] += bf.checkWeight(&yamlfile.Problems{}, "")
		j, seen := first[bf.PathPrefix]
		if !seen {
			first[bf.PathPrefix] = i
			continue
		}
		if bf.Weight == nil || rf.Backends[j].Weight == nil {
			errs.Add(fmt.Sprintf("%s.backends[%d].path_prefix", at, i), bf.PathPrefix,
				"is already used by %s.backends[%d].path_prefix; to split its requests between them, set weight on each", at, j)
		}
	}
	for i, bf := range rf.Backends {
		if first[bf.PathPrefix] == i && total[bf.PathPrefix] == 0 {
			errs.Add(fmt.Sprintf("%s.backends[%d].weight", at, i), "0", "leaves path_prefix %s no backend with a weight above 0: give one a weight, or remove them", bf.PathPrefix)
		}
	}
}

// validateMesh checks a backend reached over mesh mTLS.
func (bf BackendFile) validateMesh(errs *yamlfile.Problems, at string, http bool) Backend {
	b := Backend{PathPrefix: bf.PathPrefix, Address: bf.Address, Protocol: bf.Protocol}
	if bf.unresolved {
		return Backend{PathPrefix: bf.PathPrefix}
	}
	checkAddr(errs, at+".address", bf.Address, true)
	if bf.ServerID == "" {
		errs.Add(at+".server_id", "", "is required: the SPIFFE ID the backend's proxy must prove")
	} else if id, ok := checkID(errs, at+".server_id", bf.ServerID); ok {
		b.ServerID = id
	}
	switch {
	case !http && bf.Protocol != "":
		errs.Add(at+".protocol", bf.Protocol, "is set on a passthrough backend, which carries the client's TLS as it is; remove it")
	case http && bf.Protocol == "":
		b.Protocol = HTTP1
	case http && bf.Protocol != HTTP1 && bf.Protocol != HTTP2:
		errs.Add(at+".protocol", bf.Protocol, "is not an app protocol; use http1 or http2 (cleartext HTTP/2, e.g. gRPC)")
	}
	if bf.CAFile != "" {
		errs.Add(at+".ca_file", bf.CAFile, "is set on a mesh backend, which is verified by server_id; ca_file is for reencrypt routes")
	}
	if bf.ServerName != "" {
		errs.Add(at+".server_name", bf.ServerName, "is set on a mesh backend, which is verified by server_id; server_name is for reencrypt routes")
	}
	return b
}

// validateTLS checks a reencrypt backend: its certificate is always verified.
func (bf BackendFile) validateTLS(errs *yamlfile.Problems, at string) Backend {
	b := Backend{Address: bf.Address, CAFile: bf.CAFile, ServerName: bf.ServerName}
	checkAddr(errs, at+".address", bf.Address, true)
	if bf.CAFile == "" {
		errs.Add(at+".ca_file", "", "is required: the CA (PEM) that signed the backend's certificate; hopseal never skips verification")
	}
	if bf.ServerID != "" {
		errs.Add(at+".server_id", bf.ServerID, "is set on a reencrypt backend, which is not in the mesh; use mode terminate for a mesh backend")
	}
	if bf.Protocol != "" {
		errs.Add(at+".protocol", bf.Protocol, "is set on a reencrypt backend, whose protocol TLS negotiates (h2 or http/1.1); remove it")
	}
	switch {
	case b.ServerName == "":
		b.ServerName, _, _ = net.SplitHostPort(bf.Address)
	case isIP(b.ServerName):
	case strings.HasPrefix(b.ServerName, "*"):
		errs.Add(at+".server_name", bf.ServerName, "is a wildcard; write the name in the backend's certificate")
	default:
		checkHostname(errs, at+".server_name", bf.ServerName)
	}
	return b
}

func (hf HSTSFile) validate(errs *yamlfile.Problems, at string) *HSTS {
	h := &HSTS{IncludeSubdomains: hf.IncludeSubdomains, Preload: hf.Preload}
	d, err := parseDays(hf.MaxAge)
	switch {
	case hf.MaxAge == "":
		errs.Add(at+".max_age", "", "is required; write e.g. 365d (0 tells browsers to forget the policy)")
	case err != nil || d < 0 || d > 2*365*24*time.Hour || d%time.Second != 0:
		errs.Add(at+".max_age", hf.MaxAge, "is not a duration in whole seconds between 0 and 730d; write e.g. 365d or 8760h")
	default:
		h.MaxAge = d
	}
	if hf.Preload && (!hf.IncludeSubdomains || (err == nil && d < 365*24*time.Hour)) {
		errs.Add(at+".preload", "true", "needs include_subdomains: true and max_age of at least 365d, or browsers' preload lists refuse the site")
	}
	return h
}

// HSTSFileOf reads a Strict-Transport-Security value ("max-age=31536000;
// includeSubDomains; preload") as an hsts block.
func HSTSFileOf(v string) (*HSTSFile, error) {
	hf := &HSTSFile{}
	for part := range strings.SplitSeq(v, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case strings.EqualFold(name, "max-age") && isDigits(value):
			hf.MaxAge = value + "s"
		case strings.EqualFold(name, "includeSubDomains") && value == "":
			hf.IncludeSubdomains = true
		case strings.EqualFold(name, "preload") && value == "":
			hf.Preload = true
		case name == "" && value == "":
		default:
			return nil, fmt.Errorf("%q is not a Strict-Transport-Security value; write e.g. \"max-age=31536000; includeSubDomains\"", v)
		}
	}
	if hf.MaxAge == "" {
		return nil, fmt.Errorf("%q has no max-age; write e.g. \"max-age=31536000; includeSubDomains\"", v)
	}
	return hf, nil
}

// ParseHSTS reads a Strict-Transport-Security value under the rules of the
// file's hsts block.
func ParseHSTS(v string) (*HSTS, error) {
	hf, err := HSTSFileOf(v)
	if err != nil {
		return nil, err
	}
	errs := yamlfile.Problems{Title: "Strict-Transport-Security " + strconv.Quote(v)}
	h := hf.validate(&errs, "hsts")
	return h, errs.Err()
}

func isDigits(s string) bool {
	if s == "" || len(s) > 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// AddrOrPrefix reads an address (a prefix of its full length) or a CIDR.
func AddrOrPrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("an address with a zone")
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}
