// Package trace follows one request through hopseal, hop by hop: it makes
// the request itself, then asks the gateway and the proxies it passed
// through (their admin endpoints: /status and /connections) what each saw
// of it. The result is the chain a user can check: every hop with its
// protocol, TLS version, identities, and whether it was encrypted. What no
// hopseal component saw (a load balancer's inside) is said to be unknown,
// never guessed.
package trace

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/gateway/certs"
	"github.com/hopseal/hopseal/internal/pki"
)

// Options say what to request and whom to ask.
type Options struct {
	URL string
	// Resolve maps "host:port" to the address to connect to instead, as
	// curl's --resolve does.
	Resolve map[string]string
	// CAFile holds the roots that verify the server; "" uses the system's.
	CAFile       string
	GatewayAdmin string   // host:port of the gateway's admin endpoint; "" skips it
	ProxyAdmins  []string // host:port of proxies' admin endpoints
	Timeout      time.Duration
	// Wait bounds how long records may take to appear after the response.
	Wait time.Duration
}

// ClientSide is what the client saw of its own connection.
type ClientSide struct {
	Local, Remote string // the client's address, the address it connected to
	Host          string // the URL's host
	HTTPProto     string // HTTP/1.1, HTTP/2.0
	Status        int
	TLS           *ClientTLS // nil for http://
}

// ClientTLS is the client's TLS session, verified against its roots.
type ClientTLS struct {
	Version, Cipher, ALPN string
	Leaf                  certs.Info // the server's certificate
	Binding               string     // gateway.TLSBinding of the session
}

// Run makes the request, then gathers the records of the hops it crossed.
func Run(ctx context.Context, o Options) (Observed, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Observed{}, fmt.Errorf("trace: %q is not an http:// or https:// URL", o.URL)
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Wait == 0 {
		o.Wait = 3 * time.Second
	}
	id := newID()
	client, err := request(ctx, u, id, o)
	if err != nil {
		return Observed{}, err
	}
	obs := Observed{URL: u.String(), TraceID: id, Client: client}
	admin := &http.Client{Timeout: o.Timeout}
	deadline := time.Now().Add(o.Wait)
	for {
		obs.Gateway, obs.Proxies = nil, nil
		if o.GatewayAdmin != "" {
			g := fetchGateway(ctx, admin, o.GatewayAdmin)
			obs.Gateway = &g
		}
		for _, a := range o.ProxyAdmins {
			obs.Proxies = append(obs.Proxies, fetchProxy(ctx, admin, a))
		}
		// The gateway lists a request once it has answered it, which may
		// be just after the client read the answer.
		if obs.Complete() || time.Now().After(deadline) {
			return obs, nil
		}
		select {
		case <-ctx.Done():
			return obs, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// request makes one GET on a connection of its own, with the trace header,
// and notes what its connection negotiated.
func request(ctx context.Context, u *url.URL, id string, o Options) (ClientSide, error) {
	tlsConf := &tls.Config{ServerName: u.Hostname()}
	if o.CAFile != "" {
		roots, err := readRoots(o.CAFile)
		if err != nil {
			return ClientSide{}, err
		}
		tlsConf.RootCAs = roots
	}
	side := ClientSide{Host: u.Hostname()}
	dialer := &net.Dialer{Timeout: o.Timeout}
	tr := &http.Transport{
		TLSClientConfig: tlsConf, ForceAttemptHTTP2: true, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if to, ok := o.Resolve[addr]; ok {
				addr = to
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		side.Local, side.Remote = info.Conn.LocalAddr().String(), info.Conn.RemoteAddr().String()
		if tc, ok := info.Conn.(*tls.Conn); ok {
			side.TLS = clientTLS(tc.ConnectionState())
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u.String(), nil)
	if err != nil {
		return ClientSide{}, fmt.Errorf("trace: %w", err)
	}
	req.Header.Set(gateway.TraceHeader, id)
	resp, err := (&http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: noRedirects}).Do(req)
	if err != nil {
		return ClientSide{}, fmt.Errorf("trace: the request failed, so there is no chain to follow: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	side.Status, side.HTTPProto = resp.StatusCode, resp.Proto
	return side, nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func clientTLS(cs tls.ConnectionState) *ClientTLS {
	c := &ClientTLS{Version: tls.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite),
		ALPN: cs.NegotiatedProtocol, Binding: gateway.TLSBinding(cs)}
	if len(cs.PeerCertificates) > 0 {
		c.Leaf = certs.InfoOf(cs.PeerCertificates[0])
		c.Leaf.Issuer = issuerName(cs.PeerCertificates[0])
	}
	return c
}

// issuerName is the issuer's common name, or its whole name without one.
func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

func readRoots(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trace: --cacert: %w", err)
	}
	list, err := pki.ParseCerts(data)
	if err != nil || len(list) == 0 {
		return nil, fmt.Errorf("trace: --cacert %s: no PEM certificate in it (%v)", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range list {
		pool.AddCert(c)
	}
	return pool, nil
}

// ParseResolve reads curl's --resolve form HOST:PORT:ADDRESS (an IPv6
// address in brackets).
func ParseResolve(v string) (from, to string, err error) {
	host, rest, ok := strings.Cut(v, ":")
	port, addr, ok2 := strings.Cut(rest, ":")
	addr = strings.Trim(addr, "[]")
	if !ok || !ok2 || host == "" || port == "" || net.ParseIP(addr) == nil {
		return "", "", errors.New("--resolve " + v + ": write HOST:PORT:ADDRESS, such as shop.example.com:443:10.0.0.5")
	}
	return net.JoinHostPort(host, port), net.JoinHostPort(addr, port), nil
}
