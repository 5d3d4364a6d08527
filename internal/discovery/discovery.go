// Package discovery tells the outbound proxy which identity to expect at a
// destination address. In standalone mode the answer comes from a file the
// proxy watches (File); other sources, such as Kubernetes, implement Source.
//
// The file (unknown keys are errors, reported by key path):
//
//	workloads:
//	  - spiffe_id: spiffe://example.org/ns/shop/sa/orders
//	    addresses: [10.89.0.3, "10.89.0.4:8080", "fd00::3", "[fd00::4]:8443"]
//
// An address is an IP (every port) or IP:port (that port only); IP:port wins
// over IP for its port. One address (or IP:port) naming two different IDs is
// an error. `workloads: []` puts no destination in the mesh.
package discovery

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Source maps a destination address to the identities expected there.
type Source interface {
	Lookup(dst netip.AddrPort) (Expect, bool)
}

// Expect is what a destination must prove: any one of these identities,
// sorted and without duplicates. A file gives each address one; a
// Kubernetes Service whose endpoints run as several service accounts has
// several.
type Expect []spiffeid.ID

// String lists the identities, separated by " or ".
func (e Expect) String() string {
	s := make([]string, len(e))
	for i, id := range e {
		s[i] = id.String()
	}
	return strings.Join(s, " or ")
}

// IDs returns the identities for use elsewhere.
func (e Expect) IDs() []spiffeid.ID { return slices.Clone(e) }

// Table is an immutable address → identities map. A nil *Table is empty.
type Table struct {
	exact map[netip.AddrPort]Expect   // IP:port entries
	host  map[netip.Addr]Expect       // IP entries, any port
	plain map[netip.AddrPort]struct{} // ports of IP entries that are not meshed
}

// Lookup returns the identities expected at dst. IPv4-mapped IPv6 addresses
// (as a dual-stack socket reports IPv4 peers) match their IPv4 entries.
func (t *Table) Lookup(dst netip.AddrPort) (Expect, bool) {
	if t == nil {
		return nil, false
	}
	addr := dst.Addr().Unmap().WithZone("")
	if id, ok := t.exact[netip.AddrPortFrom(addr, dst.Port())]; ok {
		return id, true
	}
	if _, ok := t.plain[netip.AddrPortFrom(addr, dst.Port())]; ok {
		return nil, false
	}
	id, ok := t.host[addr]
	return id, ok
}

// Len returns the number of address entries.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.exact) + len(t.host)
}

type workloadJSON struct {
	SPIFFEID  string   `json:"spiffe_id"`
	Addresses []string `json:"addresses"`
}

// MarshalJSON renders the table in the file's shape, sorted by ID and then
// address, for the proxy's status endpoint.
func (t *Table) MarshalJSON() ([]byte, error) {
	byID := map[spiffeid.ID][]string{}
	if t != nil {
		for ap, ids := range t.exact {
			for _, id := range ids {
				byID[id] = append(byID[id], ap.String())
			}
		}
		for a, ids := range t.host {
			for _, id := range ids {
				byID[id] = append(byID[id], a.String())
			}
		}
	}
	out := struct {
		Workloads []workloadJSON `json:"workloads"`
	}{Workloads: []workloadJSON{}}
	for id, addrs := range byID {
		slices.Sort(addrs)
		out.Workloads = append(out.Workloads, workloadJSON{SPIFFEID: id.String(), Addresses: addrs})
	}
	slices.SortFunc(out.Workloads, func(a, b workloadJSON) int { return strings.Compare(a.SPIFFEID, b.SPIFFEID) })
	return json.Marshal(out)
}

var (
	_ Source = (*Table)(nil)
	_ Source = (*File)(nil)
)
