package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Reach values of a Cell.
const (
	ReachAll  = "all"  // every pod may open every port of every pod
	ReachSome = "some" // some ports, or some pairs of pods
	ReachNone = "none" // no pod may open any port of any pod
)

// Matrix is the reachability between namespaces that NetworkPolicies allow:
// Cells[i][j] says what pods of Namespaces[i] may open on pods of
// Namespaces[j].
type Matrix struct {
	Namespaces []string `json:"namespaces"`
	Cells      [][]Cell `json:"cells"`
}

// Cell is the reachability from one namespace's pods to another's.
type Cell struct {
	Reach string `json:"reach"`
	// Ports open between at least one pair of pods, when Reach is "some".
	Ports string `json:"ports,omitempty"`
}

// Reachability computes the matrix over the namespaces of endpoints. Pods
// with the same namespace, labels, ports and address are one class, so the
// cost grows with the number of distinct pods, not replicas.
func Reachability(ps *Policies, endpoints []Endpoint) Matrix {
	byNS := map[string][]Endpoint{}
	seen := map[string]bool{}
	for _, e := range endpoints {
		if k := classKey(e); !seen[k] {
			seen[k] = true
			byNS[e.Namespace] = append(byNS[e.Namespace], e)
		}
	}
	m := Matrix{Namespaces: slices.Sorted(maps.Keys(byNS))}
	for _, a := range m.Namespaces {
		row := make([]Cell, 0, len(m.Namespaces))
		for _, b := range m.Namespaces {
			row = append(row, cell(ps, byNS[a], byNS[b]))
		}
		m.Cells = append(m.Cells, row)
	}
	return m
}

func cell(ps *Policies, srcs, dsts []Endpoint) Cell {
	all, none := true, true
	var union PortSet
	for _, s := range srcs {
		for _, d := range dsts {
			p := ps.Allowed(s, d)
			all = all && p.Full()
			none = none && p.Empty()
			union = union.Union(p)
		}
	}
	switch {
	case all:
		return Cell{Reach: ReachAll}
	case none:
		return Cell{Reach: ReachNone}
	}
	return Cell{Reach: ReachSome, Ports: union.String()}
}

// At is the cell from namespace a to b, and whether both are in m.
func (m Matrix) At(a, b string) (Cell, bool) {
	i, j := slices.Index(m.Namespaces, a), slices.Index(m.Namespaces, b)
	if i < 0 || j < 0 {
		return Cell{}, false
	}
	return m.Cells[i][j], true
}

// classKey identifies pods that every policy treats alike.
func classKey(e Endpoint) string {
	var b strings.Builder
	b.WriteString(e.Namespace + "|" + e.IP.String() + "|")
	for _, k := range slices.Sorted(maps.Keys(e.Labels)) {
		fmt.Fprintf(&b, "%s=%s,", k, e.Labels[k])
	}
	b.WriteString("|")
	for _, p := range e.Ports {
		fmt.Fprintf(&b, "%s/%s/%d,", p.Name, p.Protocol, p.ContainerPort)
	}
	return b.String()
}
