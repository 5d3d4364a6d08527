package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
)

// Defaults: hopseal's transparent-mode ports and the proxy's UID.
const (
	DefaultInboundPort  = 14006
	DefaultOutboundPort = 14001
	DefaultProxyUID     = 1443
)

// Rules is what init-net installs in the current network namespace.
type Rules struct {
	InboundPort          uint16         // proxy's inbound listener, default 14006
	OutboundPort         uint16         // proxy's outbound listener, default 14001
	ProxyUID             uint32         // never redirected, default 1443
	ExcludeInboundPorts  []uint16       // e.g. the admin port 14090; never redirected inbound
	ExcludeOutboundPorts []uint16       // destination ports the app reaches directly
	ExcludeOutboundCIDRs []netip.Prefix // e.g. the node's metadata address
}

// Default is the rule set for hopseal's default ports and UID.
func Default() Rules {
	return Rules{InboundPort: DefaultInboundPort, OutboundPort: DefaultOutboundPort, ProxyUID: DefaultProxyUID}
}

// Validate reports every problem at once; each message names the
// `hopseal init-net` flag and how to fix it. It never changes r.
func (r Rules) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.InboundPort == 0 {
		add("--inbound-port 0 is not a port: use the proxy's inbound listener port (default %d)", DefaultInboundPort)
	}
	if r.OutboundPort == 0 {
		add("--outbound-port 0 is not a port: use the proxy's outbound listener port (default %d)", DefaultOutboundPort)
	}
	if r.InboundPort != 0 && r.InboundPort == r.OutboundPort {
		add("--inbound-port and --outbound-port are both %d: the proxy needs two listeners, so use two ports (defaults %d and %d)",
			r.InboundPort, DefaultInboundPort, DefaultOutboundPort)
	}
	if r.ProxyUID == 0 {
		add("--proxy-uid 0 would exempt every root process from interception: run the proxy under its own UID (default %d)", DefaultProxyUID)
	}
	checkPorts(add, "--exclude-inbound-ports", r.ExcludeInboundPorts)
	checkPorts(add, "--exclude-outbound-ports", r.ExcludeOutboundPorts)
	for _, p := range r.ExcludeOutboundCIDRs {
		if msg := checkPrefix(p); msg != "" {
			add("--exclude-outbound-cidrs %s %s", p, msg)
		}
	}
	return errors.Join(errs...)
}

func checkPorts(add func(string, ...any), flag string, ports []uint16) {
	for _, p := range ports {
		if p == 0 {
			add("%s lists port 0: list ports between 1 and 65535", flag)
		}
	}
}

// checkPrefix says what is wrong with p as an excluded destination, or "".
func checkPrefix(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return "is not a CIDR: write an address or a network such as 169.254.169.254 or 10.0.0.0/8"
	case p.Addr().Is4In6():
		return "is an IPv4-mapped IPv6 network: write IPv4 networks in IPv4 form, such as 10.0.0.0/8"
	case p.Bits() == 0:
		return "excludes every destination, which turns outbound interception off: list the networks the app may reach directly"
	case p.Masked() != p:
		return fmt.Sprintf("has host bits set: write the network address %s", p.Masked())
	}
	return ""
}
