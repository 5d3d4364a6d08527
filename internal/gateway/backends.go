package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/proxy"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

var dialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

const (
	maxIdlePerBackend = 64
	backendIdle       = 90 * time.Second
	hstsHeader        = "Strict-Transport-Security"
)

// meshClient is the mesh mTLS client side towards one backend: it accepts
// only the backend's SPIFFE ID and tells the destination's proxy what the
// app speaks (ALPN hint), as an outbound sidecar does.
func (g *Gateway) meshClient(b config.Backend, protocol string) *tls.Config {
	c := tlsconf.MTLSClient(g.id, g.id, tlsconf.AuthorizeID(b.ServerID), g.clock.Now)
	c.NextProtos = []string{tlsconf.HintProtocol(protocol), tlsconf.NextProto}
	return c
}

// dialTLS connects to a backend and completes the handshake of cfg: mesh
// mTLS, or a reencrypt backend's TLS.
func dialTLS(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	raw, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(proxy.NewTransport(raw), cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// meshTransport carries HTTP to a mesh backend inside mesh mTLS: the app's
// HTTP/1.1, or cleartext HTTP/2 with prior knowledge, goes inside the
// tunnel the destination's proxy terminates.
func (g *Gateway) meshTransport(b config.Backend) *http.Transport {
	cfg := g.meshClient(b, b.Protocol)
	t := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialTLS(ctx, b.Address, cfg)
		},
		MaxIdleConnsPerHost: maxIdlePerBackend,
		IdleConnTimeout:     backendIdle,
	}
	if b.Protocol == config.HTTP2 {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return t
}

// backendTLS is the TLS of a reencrypt backend, verified against its CA
// for its server name; nothing here can turn verification off.
func backendTLS(b config.Backend, roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: b.ServerName, MinVersion: tls.VersionTLS12}
}

// tlsTransport originates TLS to a reencrypt backend (HTTP/2 when it
// offers it).
func tlsTransport(b config.Backend, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     backendTLS(b, roots),
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: maxIdlePerBackend,
		IdleConnTimeout:     backendIdle,
	}
}

// reverseProxy sends requests to target through t. The backend sees the
// client's Host, and the gateway's X-Forwarded-For/-Host/-Proto
// (forwarded.go).
func (g *Gateway) reverseProxy(rt *route, target *url.URL, t http.RoundTripper) *httputil.ReverseProxy {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			fw := forwardedBy(pr.In)
			pr.Out.Header.Set("X-Forwarded-For", fw.xff)
			pr.Out.Header.Set("X-Forwarded-Host", pr.In.Host)
			pr.Out.Header.Set("X-Forwarded-Proto", fw.proto)
			pr.Out.Header.Del("Forwarded")
		},
		Transport:    t,
		ErrorHandler: backendError,
		ErrorLog:     g.debugLog,
		BufferPool:   copyBuffers{},
	}
	if rt.hsts != "" {
		// The route's policy, set before proxying, wins over the backend's.
		rp.ModifyResponse = func(r *http.Response) error {
			r.Header.Del(hstsHeader)
			return nil
		}
	}
	return rp
}

// copyBuffers lends ReverseProxy its body-copy buffers, which it would
// otherwise allocate (32 KiB) for every response.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *copyBufferPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { copyBufferPool.Put(&b) }

// backendError answers a failed exchange with the backend: 504 on a
// timeout, else 502. The cause goes to the request log, not to the client.
func backendError(w http.ResponseWriter, r *http.Request, err error) {
	if rec, ok := w.(*recorder); ok {
		rec.reason = err.Error()
	}
	code := http.StatusBadGateway
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		code = 499 // the client went away; nothing is written
		if rec, ok := w.(*recorder); ok {
			rec.code = code
		}
		return
	}
	http.Error(w, http.StatusText(code), code)
}

// forwardedBy is what a request net/http serves forwards.
func forwardedBy(r *http.Request) forwarding {
	cs := connOf(r)
	if cs == nil {
		return forwarding{xff: clientIP(nil), proto: "https"}
	}
	return cs.forwarded(clientIP(cs.client), cs.trusts(), r.Header.Values("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
}
