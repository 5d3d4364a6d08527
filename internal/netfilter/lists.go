package netfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxListItems bounds a flag list: each item becomes one rule.
const maxListItems = 256

// ParsePorts reads a comma-separated port list such as "14090,22". Empty
// items and spaces are ignored; an empty string is an empty list.
func ParsePorts(s string) ([]uint16, error) {
	items, err := split(s)
	if err != nil {
		return nil, err
	}
	var ports []uint16
	for _, item := range items {
		n, err := strconv.ParseUint(item, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a port: list numbers from 1 to 65535, such as 14090,22", item)
		}
		ports = append(ports, uint16(n))
	}
	return ports, nil
}

// ParsePrefixes reads a comma-separated list of networks and addresses such
// as "169.254.169.254,10.0.0.0/8,fd00::/8"; an address is a single-host
// network. Validate checks the networks themselves.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	items, err := split(s)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, item := range items {
		p, err := parsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR: write for example 169.254.169.254 or 10.0.0.0/8", item)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zone in %s", s) // a rule cannot match a zone
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func split(s string) ([]string, error) {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
		if len(items) > maxListItems {
			return nil, fmt.Errorf("more than %d items, and each becomes a rule: exclude whole networks rather than single addresses", maxListItems)
		}
	}
	return items, nil
}
