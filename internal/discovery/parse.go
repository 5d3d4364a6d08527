package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hopseal/hopseal/internal/yamlfile"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// MaxSize caps a discovery file before parsing.
const MaxSize = 8 << 20

type fileDoc struct {
	Workloads *[]workloadDoc `yaml:"workloads"`
}

type workloadDoc struct {
	SPIFFEID  string   `yaml:"spiffe_id"`
	Addresses []string `yaml:"addresses"`
}

// Parse decodes a discovery file strictly into a Table.
func Parse(data []byte) (*Table, error) {
	const empty = "discovery: file is empty; write `workloads: []` for no meshed destination, or list workloads (see the package documentation)"
	var f fileDoc
	if err := yamlfile.Decode(data, &f, MaxSize, "discovery", empty); err != nil {
		return nil, err
	}
	if f.Workloads == nil {
		return nil, errors.New("discovery: workloads is required; write `workloads: []` for no meshed destination")
	}
	return build(*f.Workloads)
}

// entry remembers where a key came from, to name both sides of a conflict.
type entry struct {
	id spiffeid.ID
	at string
}

func build(docs []workloadDoc) (*Table, error) {
	errs := yamlfile.Problems{Title: "discovery: invalid discovery file"}
	exact := map[netip.AddrPort]entry{}
	host := map[netip.Addr]entry{}
	for i, d := range docs {
		at := fmt.Sprintf("workloads[%d]", i)
		id := checkID(d.SPIFFEID, at+".spiffe_id", &errs)
		if len(d.Addresses) == 0 {
			errs.Add(at+".addresses", "", "is empty; list the workload's IPs (any port) or IP:port pairs")
		}
		for j, s := range d.Addresses {
			aat := fmt.Sprintf("%s.addresses[%d]", at, j)
			ap, anyPort, err := parseAddress(s)
			if err != nil {
				errs.Add(aat, s, "%v", err)
				continue
			}
			if id.IsZero() {
				continue
			}
			if anyPort {
				claim(host, ap.Addr(), entry{id, aat}, s, &errs)
			} else {
				claim(exact, ap, entry{id, aat}, s, &errs)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	t := &Table{exact: make(map[netip.AddrPort]Expect, len(exact)), host: make(map[netip.Addr]Expect, len(host))}
	for k, e := range exact {
		t.exact[k] = Expect{e.id}
	}
	for k, e := range host {
		t.host[k] = Expect{e.id}
	}
	return t, nil
}

func checkID(s, at string, errs *yamlfile.Problems) spiffeid.ID {
	if s == "" {
		errs.Add(at, "", "is required: the identity the workload at these addresses must prove")
		return spiffeid.ID{}
	}
	id, err := spiffeid.FromString(s)
	switch {
	case err != nil:
		errs.Add(at, s, "is not a SPIFFE ID (%v); write spiffe://<trust-domain>/<path>", err)
	case id.Path() == "":
		errs.Add(at, s, "names a whole trust domain; write a workload ID such as spiffe://%s/ns/shop/sa/orders", id.TrustDomain())
	default:
		return id
	}
	return spiffeid.ID{}
}

func claim[K comparable](m map[K]entry, k K, e entry, raw string, errs *yamlfile.Problems) {
	prev, ok := m[k]
	switch {
	case !ok:
		m[k] = e
	case prev.id != e.id:
		errs.Add(e.at, raw, "maps to %s, but %s already maps it to %s; an address belongs to one workload", e.id, prev.at, prev.id)
	}
}

// parseAddress accepts an IP (anyPort) or IP:port.
func parseAddress(s string) (ap netip.AddrPort, anyPort bool, err error) {
	if a, err := netip.ParseAddr(s); err == nil {
		ap, anyPort = netip.AddrPortFrom(a, 0), true
	} else if ap, err = netip.ParseAddrPort(s); err != nil {
		return ap, false, errors.New("is not an IP or IP:port; write e.g. 10.89.0.3, 10.89.0.3:8080 or [fd00::3]:8080")
	}
	a := ap.Addr()
	switch {
	case a.Zone() != "":
		return ap, false, errors.New("has an IPv6 zone; write the address without %zone")
	case a.IsUnspecified():
		return ap, false, errors.New("is the unspecified address; write the workload's own IP")
	case !anyPort && ap.Port() == 0:
		return ap, false, errors.New("has port 0; write a port 1-65535, or the IP alone for every port")
	}
	return netip.AddrPortFrom(a.Unmap(), ap.Port()), anyPort, nil
}

// Destination is an address and the identities that may answer there, as a
// control plane sends them.
type Destination struct {
	Address        string // IP (any port) or IP:port
	IDs            []string
	PlaintextPorts []uint16 // of an IP: ports its proxy does not intercept
}

// New builds a Table from destinations, with the checks Parse applies to a
// file; an address may appear once.
func New(dests []Destination) (*Table, error) {
	errs := yamlfile.Problems{Title: "discovery: invalid destinations"}
	t := &Table{exact: map[netip.AddrPort]Expect{}, host: map[netip.Addr]Expect{}, plain: map[netip.AddrPort]struct{}{}}
	for i, d := range dests {
		at := fmt.Sprintf("destinations[%d]", i)
		var want Expect
		for j, s := range d.IDs {
			if id := checkID(s, fmt.Sprintf("%s.ids[%d]", at, j), &errs); !id.IsZero() {
				want = append(want, id)
			}
		}
		if len(d.IDs) == 0 {
			errs.Add(at+".ids", "", "is empty; a meshed destination needs at least one identity")
		}
		slices.SortFunc(want, func(a, b spiffeid.ID) int { return strings.Compare(a.String(), b.String()) })
		want = slices.Compact(want)
		ap, anyPort, err := parseAddress(d.Address)
		switch {
		case err != nil:
			errs.Add(at+".address", d.Address, "%v", err)
		case anyPort && t.host[ap.Addr()] != nil, !anyPort && t.exact[ap] != nil:
			errs.Add(at+".address", d.Address, "appears twice; list each address once with all its identities")
		case !anyPort && len(d.PlaintextPorts) > 0:
			errs.Add(at+".plaintext_ports", fmt.Sprint(d.PlaintextPorts), "applies only to an IP (any port), not to IP:port")
		case anyPort:
			t.host[ap.Addr()] = want
			for _, p := range d.PlaintextPorts {
				t.plain[netip.AddrPortFrom(ap.Addr(), p)] = struct{}{}
			}
		default:
			t.exact[ap] = want
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return t, nil
}
