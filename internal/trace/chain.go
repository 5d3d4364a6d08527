package trace

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/hopseal/hopseal/internal/gateway"
	"github.com/hopseal/hopseal/internal/telemetry"
)

// Hop is one stretch of the request's path.
type Hop struct {
	From, To   string
	Protocol   string // TLS version and application protocol
	Security   string // mTLS, TLS, TLS (relayed) or plaintext
	Identities string // who proved what to whom
	Encrypted  bool
	Local      bool   // never on a network: delivery inside the workload's own host or pod
	Note       string // how this hop is known
}

// Chain is the request's path as far as hopseal could see it.
type Chain struct {
	URL, TraceID string
	Status       int
	Hops         []Hop
	Gaps         []string // what could not be traced, and how to trace it
	Problems     []string // what was not protected
}

// Build assembles the chain from what was observed. It only states what a
// record shows; anything else becomes a gap.
func Build(o Observed) (ch Chain) {
	ch = Chain{URL: o.URL, TraceID: o.TraceID, Status: o.Client.Status}
	first := clientHop(o.Client)
	defer func() { ch.Problems = problems(ch.Hops) }()
	switch {
	case o.Gateway == nil:
		ch.Hops = []Hop{first}
		ch.Gaps = append(ch.Gaps, "the gateway was not asked: pass --gateway-admin HOST:PORT")
		return ch
	case o.Gateway.Err != nil:
		ch.Hops = []Hop{first}
		ch.Gaps = append(ch.Gaps, "gateway: "+o.Gateway.Err.Error())
		return ch
	}
	conn, req := o.gatewayRecords()
	if conn == nil {
		ch.Hops = []Hop{first}
		ch.Gaps = append(ch.Gaps, "the gateway at "+o.Gateway.Admin+" has no record of this request: it did not pass through it, or its recent list moved on")
		return ch
	}
	gw := "gateway " + o.listenerAddr(conn)
	ch.Hops = append(ch.Hops, o.edgeHops(first, conn, req, gw)...)
	up := upstreamOf(conn, req)
	if up == nil {
		ch.Gaps = append(ch.Gaps, noBackend(conn, req))
		return ch
	}
	backend := backendHop(up, o.Gateway.Status.SPIFFEID)
	if up.Security != "mutual_tls" {
		ch.Hops = append(ch.Hops, backend) // outside the mesh: no proxy to ask
		return ch
	}
	p, flow := o.proxyFlow(up.Local)
	if flow == nil {
		ch.Hops = append(ch.Hops, backend)
		ch.Gaps = append(ch.Gaps, fmt.Sprintf("the proxy at %s was not asked (or has no record of the connection from %s): pass its --proxy-admin HOST:PORT", up.Remote, up.Local))
		return ch
	}
	backend.Note = fmt.Sprintf("the proxy of %s saw peer %s over %s", p.SPIFFEID, flow.PeerID, flow.TLSVersion)
	if flow.PeerID != o.Gateway.Status.SPIFFEID || flow.Security != "mutual_tls" {
		backend.Note += fmt.Sprintf("; NOT the gateway's identity %s over mutual TLS", o.Gateway.Status.SPIFFEID)
	}
	ch.Hops = append(ch.Hops, backend, deliveryHop(p, flow, up, conn.Mode))
	return ch
}

// clientHop is the client's own connection, verified by the client.
func clientHop(c ClientSide) Hop {
	h := Hop{From: "client " + c.Local, To: c.Remote, Protocol: c.HTTPProto, Security: "plaintext"}
	if c.TLS != nil {
		h.Protocol = c.TLS.Version + ", " + alpnOr(c.TLS.ALPN, c.HTTPProto)
		h.Security, h.Encrypted = "TLS", true
		h.Identities = fmt.Sprintf("server %s (issuer %s), verified by the client", strings.Join(c.TLS.Leaf.Names, ","), c.TLS.Leaf.Issuer)
	}
	return h
}

// edgeHops are the hops up to the gateway: the client's, and the load
// balancer's when the gateway's TCP peer is not the client. Whether the
// client's TLS session ends at the gateway is read from the session's
// exported binding, which only the two ends of one session share.
func (o Observed) edgeHops(first Hop, conn, req *telemetry.Record, gw string) []Hop {
	c := o.Client
	sameSession := c.TLS != nil && conn.TLSBinding != "" && conn.TLSBinding == c.TLS.Binding
	ended := c.TLS != nil && conn.TLSBinding != "" && !sameSession // at a hop before the gateway
	direct := conn.Source == c.Local && !ended
	switch {
	case direct:
		first.To = gw
		if sameSession {
			first.Note = "the gateway holds the same TLS session"
		}
		return []Hop{first}
	case sameSession:
		first.To = "load balancer " + c.Remote
		first.Note = "the gateway holds the same TLS session: the load balancer does not decrypt"
	case conn.Mode == "passthrough":
		first.To = "load balancer " + c.Remote
		first.Note = "the gateway relays the client's TLS unopened; whether the load balancer opens it is not visible to hopseal"
	case ended:
		first.To = "load balancer " + c.Remote
		first.Note = "TLS ends at the load balancer: the gateway's session is another one"
	default:
		first.To = "load balancer " + c.Remote
	}
	lb := Hop{From: "load balancer " + conn.Source, To: gw}
	var ids []string
	switch {
	case sameSession || conn.Mode == "passthrough":
		lb.Protocol, lb.Security, lb.Encrypted = "TCP carrying hop 1's TLS", "TLS (relayed)", c.TLS != nil
	case conn.TLSVersion != "":
		lb.Protocol, lb.Encrypted = conn.TLSVersion+", "+conn.Protocol, true
		lb.Security = "TLS"
		if names := o.routeNames(conn); names != "" {
			ids = append(ids, "server "+names)
		}
		if conn.PeerCert != "" {
			lb.Security = "mTLS"
			ids = append(ids, "client certificate "+conn.PeerCert)
		}
	default:
		lb.Protocol, lb.Security = conn.Protocol, "plaintext"
	}
	switch {
	case conn.Client != conn.Source:
		ids = append(ids, "client "+conn.Client+" (PROXY header)")
	case req != nil && req.Client != "" && req.Client != conn.Client:
		ids = append(ids, "client "+req.Client+" (X-Forwarded-For from a trusted forwarder)")
	}
	lb.Identities = strings.Join(ids, "; ")
	return []Hop{first, lb}
}

// backendHop is the gateway's connection to the backend.
func backendHop(up *telemetry.Upstream, gatewayID string) Hop {
	h := Hop{From: "gateway " + up.Local, To: up.Remote, Protocol: up.TLSVersion + ", " + up.ALPN}
	switch up.Security {
	case "mutual_tls":
		h.Security, h.Encrypted = "mTLS", true
		h.Identities = gatewayID + " → " + up.PeerID + ", both verified"
	case "tls":
		h.Security, h.Encrypted = "TLS", true
		h.Identities = "server " + up.PeerName + ", verified by the gateway (outside the mesh)"
	default:
		h.Security, h.Protocol = "plaintext", up.ALPN
	}
	if up.Reused {
		h.Note = "a pooled connection"
	}
	return h
}

// deliveryHop is the destination proxy handing the request to its app.
func deliveryHop(p *ProxyView, flow *telemetry.Record, up *telemetry.Upstream, mode string) Hop {
	h := Hop{From: "proxy " + p.SPIFFEID, To: "app " + flow.Destination, Protocol: flow.Protocol, Security: "plaintext"}
	h.Local = flow.Destination == up.Remote || isLoopback(flow.Destination)
	if mode == "passthrough" && flow.Protocol == "tls" {
		h.Security, h.Encrypted = "TLS (the client's own, end to end)", true
		h.Identities = "the app's certificate, verified by the client (hop 1)"
	}
	if h.Local {
		h.Note = "delivered inside the workload's own network namespace: never on a network"
	}
	return h
}

func noBackend(conn, req *telemetry.Record) string {
	switch {
	case conn.Mode == gateway.ModeRedirect:
		return "the gateway answered itself (HTTPS redirect): no backend"
	case req != nil && req.Reason != "":
		return fmt.Sprintf("the gateway reached no backend: %d, %s", req.Status, req.Reason)
	case req != nil:
		return fmt.Sprintf("the gateway answered %d without a backend connection", req.Status)
	}
	return "the gateway's record names no backend connection"
}

// listenerAddr is the address of the listener a record came in on.
func (o Observed) listenerAddr(conn *telemetry.Record) string {
	for _, l := range o.Gateway.Status.Listeners {
		if l.Name == conn.Listener {
			return l.Address + " (" + l.Name + ")"
		}
	}
	return "(" + conn.Listener + ")"
}

// routeNames are the names of the certificate the gateway serves for the
// record's route.
func (o Observed) routeNames(conn *telemetry.Record) string {
	for _, l := range o.Gateway.Status.Listeners {
		for _, r := range l.Routes {
			if l.Name == conn.Listener && r.Hostname == conn.Route && len(r.Certificates) > 0 {
				return strings.Join(r.Certificates[0].Names, ",")
			}
		}
	}
	return ""
}

// problems lists hops that crossed a network unencrypted.
func problems(hops []Hop) []string {
	var out []string
	for i, h := range hops {
		if !h.Encrypted && !h.Local {
			out = append(out, fmt.Sprintf("hop %d (%s → %s) crosses a network in plaintext", i+1, h.From, h.To))
		}
	}
	return out
}

func alpnOr(alpn, proto string) string {
	if alpn == "" || slices.Contains([]string{"h2", "http/1.1"}, alpn) {
		return proto
	}
	return alpn
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}
