package gateway

import (
	"net/netip"
	"strings"
)

// Forwarding headers. The gateway sets X-Forwarded-For, -Host and -Proto
// afresh on every request: a client's own are not believed. A listener's
// trusted_forwarders are the exception, for a load balancer that ends TLS
// itself (an ALB) and so cannot send a PROXY header: from those, the
// request's X-Forwarded-For is kept with the forwarder's address appended,
// as each proxy on a path does, and so is its X-Forwarded-Proto.

// forwarding is what one request forwards, and the client it names.
type forwarding struct {
	xff, proto string
	client     string // "" when it is the connection's client
}

// trusts reports whether the connection comes from a trusted forwarder.
func (cs *conn) trusts() bool {
	if len(cs.listener.cfg.TrustedForwarders) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(addrString(cs.client))
	return err == nil && trusted(cs.listener.cfg.TrustedForwarders, ap.Addr())
}

func trusted(list []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded is what a request forwards: peer is the connection's client
// address; received and proto are the request's X-Forwarded-For values
// and X-Forwarded-Proto, which count only when trust is set.
func (cs *conn) forwarded(peer string, trust bool, received []string, proto string) forwarding {
	if !trust || len(received) == 0 {
		return forwarding{xff: peer, proto: "https"}
	}
	f := forwarding{xff: strings.Join(received, ", ") + ", " + peer, proto: "https"}
	if proto == "http" || proto == "https" {
		f.proto = proto
	}
	// The client is the rightmost address that is not a forwarder: what
	// is left of it was written by the client, who can write anything.
	entries := strings.Split(strings.Join(received, ","), ",")
	for i := len(entries) - 1; i >= 0; i-- {
		e := strings.TrimSpace(entries[i])
		a, err := netip.ParseAddr(e)
		if err != nil || !trusted(cs.listener.cfg.TrustedForwarders, a) || i == 0 {
			f.client = e[:min(len(e), 64)]
			break
		}
	}
	return f
}
