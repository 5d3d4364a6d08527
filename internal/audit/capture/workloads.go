package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Workload is what an address belongs to.
type Workload struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind,omitempty"` // "Pod", "Service", "host", ...
}

// Resolver names the workload behind an address.
type Resolver interface {
	Lookup(netip.Addr) (Workload, bool)
}

// Names maps addresses and networks to workloads; an exact address wins,
// then the longest prefix. The zero value names nothing. Not safe for
// concurrent use while being added to.
type Names struct {
	hosts map[netip.Addr]Workload
	nets  []nameEntry // longest prefix first, once sorted
	dirty bool        // nets needs sorting
}

type nameEntry struct {
	prefix netip.Prefix
	w      Workload
}

// Add maps a network (an address is a /32 or /128) to w; the first
// mapping of an address stays.
func (n *Names) Add(p netip.Prefix, w Workload) {
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
	}
	p = p.Masked()
	if p.IsSingleIP() {
		if n.hosts == nil {
			n.hosts = map[netip.Addr]Workload{}
		}
		if _, ok := n.hosts[p.Addr()]; !ok {
			n.hosts[p.Addr()] = w
		}
		return
	}
	n.nets = append(n.nets, nameEntry{p, w})
	n.dirty = true
}

// Lookup returns the workload of a, or of the longest prefix holding it.
func (n *Names) Lookup(a netip.Addr) (Workload, bool) {
	a = a.Unmap()
	if w, ok := n.hosts[a]; ok {
		return w, true
	}
	if n.dirty {
		sort.SliceStable(n.nets, func(i, j int) bool { return n.nets[i].prefix.Bits() > n.nets[j].prefix.Bits() })
		n.dirty = false
	}
	for _, e := range n.nets {
		if e.prefix.Contains(a) {
			return e.w, true
		}
	}
	return Workload{}, false
}

// Len is how many addresses and networks are named.
func (n *Names) Len() int { return len(n.hosts) + len(n.nets) }

// Chain asks each resolver in turn.
type Chain []Resolver

// Lookup returns the first answer.
func (c Chain) Lookup(a netip.Addr) (Workload, bool) {
	for _, r := range c {
		if r == nil {
			continue
		}
		if w, ok := r.Lookup(a); ok {
			return w, true
		}
	}
	return Workload{}, false
}

// hostsFile is the hosts file's shape:
//
//	hosts:
//	  - name: orders
//	    namespace: shop          # optional
//	    addresses: [10.0.1.5, "10.0.2.0/24", "fd00::5"]
type hostsFile struct {
	Hosts []struct {
		Name      string   `yaml:"name"`
		Namespace string   `yaml:"namespace"`
		Addresses []string `yaml:"addresses"`
	} `yaml:"hosts"`
}

// maxHostsFile bounds the file read.
const maxHostsFile = 16 << 20

// LoadHosts reads a hosts file (see hostsFile) into Names.
func LoadHosts(path string) (*Names, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHostsFile+1))
	if err != nil {
		return nil, fmt.Errorf("hosts file %s: %w", path, err)
	}
	if len(b) > maxHostsFile {
		return nil, fmt.Errorf("hosts file %s is over %d MiB", path, maxHostsFile>>20)
	}
	n, err := ParseHosts(b)
	if err != nil {
		return nil, fmt.Errorf("hosts file %s: %w", path, err)
	}
	return n, nil
}

// ParseHosts parses a hosts file's content, strictly: unknown keys,
// missing names and bad addresses are errors naming their key path.
func ParseHosts(b []byte) (*Names, error) {
	var hf hostsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&hf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w (expected hosts: [{name: NAME, namespace: NS, addresses: [ADDRESS or CIDR, ...]}])", err)
	}
	n := &Names{}
	for i, h := range hf.Hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		if strings.TrimSpace(h.Name) == "" {
			return nil, fmt.Errorf("%s.name is empty: give the workload's name", key)
		}
		if len(h.Addresses) == 0 {
			return nil, fmt.Errorf("%s.addresses is empty: list its IP addresses or networks", key)
		}
		for j, a := range h.Addresses {
			p, err := parseAddrOrPrefix(a)
			if err != nil {
				return nil, fmt.Errorf("%s.addresses[%d] %q: %v", key, j, a, err)
			}
			n.Add(p, Workload{Name: h.Name, Namespace: h.Namespace, Kind: "host"})
		}
	}
	return n, nil
}

func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, errors.New("not a network: write ADDRESS/BITS, e.g. 10.0.0.0/24")
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or network (host names are not looked up)")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
