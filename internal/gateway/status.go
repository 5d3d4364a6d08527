package gateway

import (
	"time"

	"github.com/hopseal/hopseal/internal/gateway/certs"
	"github.com/hopseal/hopseal/internal/telemetry"
)

// Status is what /status shows: the identity, and every listener's routes
// with their certificates and backends. It holds no key material.
type Status struct {
	SPIFFEID     string           `json:"spiffe_id"`
	SVIDNotAfter *time.Time       `json:"svid_not_after,omitempty"`
	Listeners    []ListenerStatus `json:"listeners"`
}

type ListenerStatus struct {
	Name          string `json:"name"`
	Address       string `json:"address"`
	ProxyProtocol bool   `json:"proxy_protocol"`
	ClientCAFile  string `json:"client_ca_file,omitempty"`
	// TrustedForwarders are the load balancers whose X-Forwarded-For the
	// listener believes.
	TrustedForwarders []string      `json:"trusted_forwarders,omitempty"`
	RedirectPort      int           `json:"redirect_https_port,omitempty"`
	Routes            []RouteStatus `json:"routes,omitempty"`
}

type RouteStatus struct {
	Hostname     string          `json:"hostname"`
	Mode         string          `json:"mode"`
	HSTS         string          `json:"hsts,omitempty"`
	Certificates []certs.Info    `json:"certificates,omitempty"`
	Backends     []BackendStatus `json:"backends"`
}

type BackendStatus struct {
	PathPrefix string `json:"path_prefix,omitempty"`
	Address    string `json:"address"`
	ServerID   string `json:"server_id,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	// Weight is the backend's share of its path prefix's requests, among
	// the backends that share the prefix (0: none).
	Weight int `json:"weight"`
}

func (g *Gateway) status() any {
	s := Status{}
	if svid, err := g.id.GetX509SVID(); err == nil {
		s.SPIFFEID = svid.ID.String()
		s.SVIDNotAfter = &svid.Certificates[0].NotAfter
	}
	for _, l := range g.allListeners() {
		ls := ListenerStatus{Name: l.cfg.Name, Address: l.ln.Addr().String(), ProxyProtocol: l.cfg.ProxyProtocol,
			ClientCAFile: l.cfg.ClientCAFile, RedirectPort: l.cfg.RedirectPort}
		for _, p := range l.cfg.TrustedForwarders {
			ls.TrustedForwarders = append(ls.TrustedForwarders, p.String())
		}
		for _, r := range l.list {
			ls.Routes = append(ls.Routes, r.status())
		}
		s.Listeners = append(s.Listeners, ls)
	}
	return s
}

func (r *route) status() RouteStatus {
	rs := RouteStatus{Hostname: r.cfg.Hostname, Mode: r.cfg.Mode, HSTS: r.hsts, Certificates: certificates(r.cert)}
	for _, b := range r.backends {
		bs := BackendStatus{PathPrefix: b.cfg.PathPrefix, Address: b.cfg.Address, Protocol: b.cfg.Protocol, ServerName: b.cfg.ServerName, Weight: b.cfg.Weight}
		if !b.cfg.ServerID.IsZero() {
			bs.ServerID = b.cfg.ServerID.String()
		}
		rs.Backends = append(rs.Backends, bs)
	}
	return rs
}

func certificates(src certs.Source) []certs.Info {
	if r, ok := src.(certs.Reporter); ok {
		return r.Certificates()
	}
	return nil
}

// certExpiry lists the certificates in force, for the expiry metric.
func (g *Gateway) certExpiry() []telemetry.GatewayCert {
	var out []telemetry.GatewayCert
	for _, l := range g.allListeners() {
		for _, r := range l.list {
			for _, c := range certificates(r.cert) {
				out = append(out, telemetry.GatewayCert{Listener: l.cfg.Name, Route: r.cfg.Hostname, NotAfter: c.NotAfter})
			}
		}
	}
	return out
}
