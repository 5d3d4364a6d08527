package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/gateway/certs"
	"github.com/hopseal/hopseal/internal/pki"
)

// listener is a bound listener and what it serves.
type listener struct {
	cfg    config.GatewayListener
	ln     net.Listener
	routes routeTable // empty on a redirect listener
	list   []*route   // in file order, for status
	http   *httpFeed
	dyn    *dynListener // set on listeners the controller configures
}

// buildListener reads the files a listener's routes name and prepares their
// TLS and backends; at is the listener's key path, for errors.
func (g *Gateway) buildListener(lc config.GatewayListener, at string, ln net.Listener) (*listener, error) {
	l := &listener{cfg: lc, ln: ln}
	if lc.RedirectPort != 0 {
		l.http = newHTTPFeed(ln.Addr(), g.acmeChallenges(g.redirect(lc.RedirectPort)), g.log)
		return l, nil
	}
	var clientCAs *x509.CertPool
	if lc.ClientCAFile != "" {
		pool, err := readPool(lc.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.client_ca_file: %w", at, err)
		}
		clientCAs = pool
	}
	for i, rc := range lc.Routes {
		r, err := g.buildRoute(rc, lc.Name, clientCAs, portOf(ln))
		if err != nil {
			return nil, fmt.Errorf("%s.routes[%d] (%s): %w", at, i, rc.Hostname, err)
		}
		l.list = append(l.list, r)
	}
	l.routes = newRouteTable(l.list)
	l.http = newHTTPFeed(ln.Addr(), http.HandlerFunc(g.serveRoute), g.log)
	return l, nil
}

// tlsPort is the listener's bound port, where ACME routes answer
// TLS-ALPN-01 challenges.
func (g *Gateway) buildRoute(rc config.Route, listenerName string, clientCAs *x509.CertPool, tlsPort int) (*route, error) {
	r := &route{cfg: rc, listener: listenerName}
	if rc.HSTS != nil {
		r.hsts = rc.HSTS.Header()
	}
	if rc.Mode == config.Passthrough {
		b := rc.Backends[0]
		r.backends = []*backend{{cfg: b, mesh: g.meshClient(b, "tls")}}
		return r, nil
	}
	var src certs.Source
	var err error
	if rc.ACME != nil {
		src, err = g.acmeSource(rc, tlsPort)
	} else if rc.Cert != nil {
		src, err = certs.NewMemory(rc.Cert.Name, rc.Cert.Chain, rc.Cert.Key, g.clock.Now())
	} else {
		src, err = g.certSource(rc.CertFile, rc.KeyFile)
	}
	if err != nil {
		return nil, err
	}
	r.cert = src
	g.checkNames(r)
	r.tls = publicTLS(src, clientCAs, g.clock.Now)
	if rc.ACME != nil {
		acmeTLS(r.tls)
	}
	for _, bc := range rc.Backends {
		b := &backend{cfg: bc}
		if bc.Address == "" { // did not resolve: answered with 500
			r.backends = append(r.backends, b)
			continue
		}
		if rc.Mode == config.Reencrypt {
			roots, err := readPool(bc.CAFile)
			if err != nil {
				return nil, fmt.Errorf("backend.ca_file: %w", err)
			}
			b.transport = tlsTransport(bc, roots)
			fast := backendTLS(bc, roots)
			fast.NextProtos = []string{"http/1.1"} // the fast path speaks HTTP/1.1
			b.pool = newBackendPool(bc.Address, fast, g.handshake)
			b.proxy = g.reverseProxy(r, &url.URL{Scheme: "https", Host: bc.Address}, b.transport)
		} else {
			b.transport = g.meshTransport(bc)
			if bc.Protocol == config.HTTP1 {
				b.pool = newBackendPool(bc.Address, g.meshClient(bc, bc.Protocol), g.handshake)
			}
			b.proxy = g.reverseProxy(r, &url.URL{Scheme: "http", Host: bc.Address}, b.transport)
		}
		r.backends = append(r.backends, b)
	}
	slices.SortStableFunc(r.backends, func(a, b *backend) int { return len(b.cfg.PathPrefix) - len(a.cfg.PathPrefix) })
	r.splits = splitsOf(r.backends)
	return r, nil
}

// certSource loads a certificate pair once, however many routes use it.
func (g *Gateway) certSource(certFile, keyFile string) (certs.Source, error) {
	key := [2]string{certFile, keyFile}
	if s, ok := g.certs[key]; ok {
		return s, nil
	}
	s, err := certs.NewFile(certFile, keyFile, g.log)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	g.certs[key] = s
	return s, nil
}

// checkNames warns when a route's certificate does not cover its hostname:
// clients would refuse it.
func (g *Gateway) checkNames(r *route) {
	name := r.cfg.Hostname
	if len(name) > 1 && name[0] == '*' {
		name = "hopseal-check" + name[1:]
	}
	c, err := r.cert.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil || c == nil || c.Leaf == nil {
		return
	}
	if err := c.Leaf.VerifyHostname(name); err != nil {
		g.log.Warn("the route's certificate does not cover its hostname; clients will refuse it",
			"listener", r.listener, "route", r.cfg.Hostname, "names", certs.InfoOf(c.Leaf).Names)
	}
}

// publicTLS is the client-facing TLS of terminate and reencrypt routes:
// TLS 1.2 or later, h2 and http/1.1, and with clientCAs a client
// certificate that must chain to them.
func publicTLS(src certs.Source, clientCAs *x509.CertPool, now func() time.Time) *tls.Config {
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: src.GetCertificate,
	}
	if clientCAs != nil {
		// Verified in VerifyConnection, so a refusal is told apart from
		// other handshake failures; RequestClientCert makes every failure
		// reach it. Resumption would skip the check: tickets are off.
		c.ClientAuth = tls.RequestClientCert
		c.ClientCAs = clientCAs
		c.VerifyConnection = verifyClient(clientCAs, now)
		c.SessionTicketsDisabled = true
	}
	return c
}

// clientCertError is a client certificate the listener refuses.
type clientCertError struct{ err error }

func (e *clientCertError) Error() string { return "client certificate: " + e.err.Error() }
func (e *clientCertError) Unwrap() error { return e.err }

func verifyClient(roots *x509.CertPool, now func() time.Time) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &clientCertError{fmt.Errorf("none presented; this listener requires one (client_ca_file)")}
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return &clientCertError{err}
		}
		return nil
	}
}

func readPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	list, err := pki.ParseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	pool := x509.NewCertPool()
	for _, c := range list {
		pool.AddCert(c)
	}
	return pool, nil
}
