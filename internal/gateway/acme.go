package gateway

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway/certs"
)

// ACME routes get their certificates from an ACME directory. The
// directory proves control of a hostname by connecting back to the
// gateway: TLS-ALPN-01 on the route's own TLS listener (a handshake that
// offers only ALPN acme-tls/1, answered by GetCertificate and closed once
// done) and, when the gateway has a redirect listener, HTTP-01 on it. Both
// listeners are bound in New, before the sources run, so the ACME client
// never binds a port of its own.

// acmeKey is one ACME source: a hostname with its settings. Routes for the
// same hostname on several listeners share it.
type acmeKey struct {
	hostname string
	acme     config.ACME
}

// acmeSource returns the source of an ACME route on the TLS listener bound
// at tlsPort.
func (g *Gateway) acmeSource(rc config.Route, tlsPort int) (certs.Source, error) {
	key := acmeKey{rc.Hostname, *rc.ACME}
	if s, ok := g.acme[key]; ok {
		return s, nil
	}
	s, err := certs.NewACME(certs.ACME{
		DirectoryURL: rc.ACME.DirectoryURL, Email: rc.ACME.Email, CARootsFile: rc.ACME.CAFile,
		StorageDir: rc.ACME.StorageDir, Hostnames: []string{rc.Hostname},
		TLSALPNPort: tlsPort, HTTPPort: g.acmeHTTPPort,
	}, g.log)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	g.acme[key] = s
	return s, nil
}

// acmeTLS lets an ACME route's TLS answer TLS-ALPN-01 challenges: it
// offers acme-tls/1 after the route's own protocols, and on a listener that
// requires client certificates, a hello offering only acme-tls/1 (the
// ACME server has no client certificate) gets a configuration without
// that requirement. Such a connection can negotiate nothing but acme-tls/1,
// and terminate closes it once the handshake is done: no request is ever
// served without the client certificate.
func acmeTLS(c *tls.Config) {
	c.NextProtos = append(slices.Clone(c.NextProtos), certs.ACMETLS1)
	if c.ClientAuth == tls.NoClientCert {
		return
	}
	challenge := &tls.Config{MinVersion: c.MinVersion, NextProtos: []string{certs.ACMETLS1}, GetCertificate: c.GetCertificate,
		SessionTicketsDisabled: true}
	c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(h.SupportedProtos) == 1 && h.SupportedProtos[0] == certs.ACMETLS1 {
			return challenge, nil
		}
		return nil, nil
	}
}

// acmeChallenges answers HTTP-01 challenges for every ACME source on a
// redirect listener and passes every other request to next.
func (g *Gateway) acmeChallenges(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := next
		for _, s := range g.acme {
			h = s.HTTPHandler(h)
		}
		h.ServeHTTP(w, r)
	})
}

// redirectPort is the bound port of the first redirect listener, where
// HTTP-01 challenges are answered, or 0 when there is none.
func redirectPort(cfg *config.Gateway, lns []net.Listener) int {
	for i, lc := range cfg.Listeners {
		if lc.RedirectPort != 0 {
			return portOf(lns[i])
		}
	}
	return 0
}

func portOf(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}
