package gateways

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strconv"

	"google.golang.org/protobuf/proto"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/config"
)

// ToProto is the stream's form of a Gateway's listeners: each certificate
// once, routes naming it. Version is a digest of the rest, so a gateway's
// configuration changes exactly when its version does.
func ToProto(gateway string, ls []config.GatewayListener) *meshv1.GatewayConfig {
	out := &meshv1.GatewayConfig{Gateway: gateway}
	certs := map[string]bool{}
	for _, l := range ls {
		_, p, _ := net.SplitHostPort(l.Listen)
		port, _ := strconv.Atoi(p)
		pl := &meshv1.GatewayListener{Name: l.Name, Port: uint32(port), ProxyProtocol: l.ProxyProtocol, RedirectHttpsPort: uint32(l.RedirectPort)}
		for _, p := range l.TrustedForwarders {
			pl.TrustedForwarders = append(pl.TrustedForwarders, p.String())
		}
		for _, r := range l.Routes {
			pr := &meshv1.GatewayRoute{Hostname: r.Hostname, Mode: r.Mode}
			if r.HSTS != nil {
				pr.Hsts = r.HSTS.Header()
			}
			if r.Cert != nil {
				pr.Certificate = r.Cert.Name
				if !certs[r.Cert.Name] {
					certs[r.Cert.Name] = true
					out.Certificates = append(out.Certificates, &meshv1.GatewayCertificate{Name: r.Cert.Name, CertPem: r.Cert.Chain, KeyPem: r.Cert.Key})
				}
			}
			for _, b := range r.Backends {
				pb := &meshv1.GatewayBackend{PathPrefix: b.PathPrefix, Address: b.Address, Protocol: b.Protocol, Unresolved: b.Address == "", Weight: uint32(b.Weight)}
				if !b.ServerID.IsZero() {
					pb.ServerId = b.ServerID.String()
				}
				pr.Backends = append(pr.Backends, pb)
			}
			pl.Routes = append(pl.Routes, pr)
		}
		out.Listeners = append(out.Listeners, pl)
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(out)
	sum := sha256.Sum256(b)
	out.Version = hex.EncodeToString(sum[:8])
	return out
}
