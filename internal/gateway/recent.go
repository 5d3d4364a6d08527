package gateway

import (
	"crypto/tls"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"time"

	"github.com/hopseal/hopseal/internal/telemetry"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// TraceHeader is the request header `hopseal trace` sets so that it can
// find its own request among the gateway's recent connections. Only short
// tokens are recorded.
const TraceHeader = "X-Hopseal-Trace"

var traceToken = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// TraceExporterLabel is the TLS exporter label of a connection record's
// tls_binding: 8 bytes that both ends of one TLS session derive, and that
// reveal nothing of its keys. `hopseal trace` compares its own with the
// gateway's to learn whether a load balancer in between ended its TLS.
const TraceExporterLabel = "EXPORTER-hopseal-trace"

// TLSBinding is the hex tls_binding of a TLS session, or "" when the
// session cannot export (TLS 1.2 without extended master secret).
func TLSBinding(cs tls.ConnectionState) string {
	b, err := cs.ExportKeyingMaterial(TraceExporterLabel, nil, 8)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(b)
}

// The gateway lists what it sees on /connections (telemetry.Recent): each
// client connection while open and once it ends, and each HTTP request with
// the connection it took to the backend, so `hopseal trace` can follow one
// request hop by hop.

func (cs *conn) openKey() telemetry.OpenKey {
	return telemetry.OpenKey{Listener: cs.listener.cfg.Name, Source: addrString(cs.peer), Start: cs.start}
}

func (cs *conn) record() telemetry.Record {
	rec := telemetry.Record{
		Kind: telemetry.KindConnection, Start: cs.start, Listener: cs.listener.cfg.Name,
		Mode: cs.mode(), Route: cs.routeName(), Client: addrString(cs.client), Source: addrString(cs.peer),
		Destination: cs.dest, SNI: cs.sni, Protocol: cs.protocol, TLSVersion: cs.tlsVer, CipherSuite: cs.cipher,
		PeerCert: cs.clientCert, Result: cs.result, Upstream: cs.upstream, TLSBinding: cs.binding,
	}
	switch {
	case cs.tlsVer != "" && cs.clientCert != "":
		rec.Security = "mutual_tls"
	case cs.tlsVer != "":
		rec.Security = "tls"
	case cs.mode() == ModeRedirect:
		rec.Security = "none"
	}
	return rec
}

// beginConn lists a connection the gateway serves from now on.
func (g *Gateway) beginConn(cs *conn) { cs.recID = g.recent.Begin(cs.openKey(), cs.record()) }

// endConn lists a connection that ended or was refused.
func (g *Gateway) endConn(cs *conn, up, down int64, err error) {
	rec := cs.record()
	rec.ID, rec.BytesUp, rec.BytesDown = cs.recID, up, down
	rec.DurationMS = float64(time.Since(cs.start).Microseconds()) / 1000
	if err != nil {
		rec.Reason = err.Error()
	}
	g.recent.End(cs.openKey(), rec)
}

// recordRequest lists one finished HTTP exchange.
func (g *Gateway) recordRequest(cs *conn, x *exchange, d time.Duration) {
	out := telemetry.Record{
		Kind: telemetry.KindRequest, Start: x.start, DurationMS: float64(d.Microseconds()) / 1000,
		Listener: cs.listener.cfg.Name, Mode: cs.mode(), Route: x.route, Client: x.client,
		Destination: x.dest, Conn: cs.recID, Method: x.method, Host: x.host, Path: x.path,
		Status: x.status, Reason: x.reason, Protocol: x.proto, Upstream: x.upstream,
	}
	if x.trace != "" && traceToken.MatchString(x.trace) {
		out.Trace = x.trace
	}
	g.recent.Add(out)
}

// traced returns r with a client trace that notes the backend connection
// the reverse proxy takes for it.
func (w *recorder) traced(r *http.Request) *http.Request {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		u := upstreamOf(info.Conn)
		u.Reused = info.Reused
		w.upstream.Store(u)
	}}
	return r.WithContext(httptrace.WithClientTrace(r.Context(), trace))
}

// upstreamOf describes a connection to a backend: a mesh backend's proves a
// SPIFFE ID; a reencrypt backend's, a web certificate.
func upstreamOf(c net.Conn) *telemetry.Upstream {
	u := &telemetry.Upstream{Local: addrString(c.LocalAddr()), Remote: addrString(c.RemoteAddr()), Security: "none"}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return u
	}
	cs := tc.ConnectionState()
	u.Security, u.TLSVersion, u.ALPN = "tls", tls.VersionName(cs.Version), cs.NegotiatedProtocol
	if id, err := tlsconf.PeerID(cs); err == nil {
		u.Security, u.PeerID = "mutual_tls", id.String()
	} else if len(cs.PeerCertificates) > 0 {
		u.PeerName = cs.PeerCertificates[0].Subject.String()
	}
	return u
}
