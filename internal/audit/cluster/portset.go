package cluster

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// protocols are those NetworkPolicy ports name, in the order sets print.
var protocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi int32 }

// PortSet is a set of (protocol, port): what one pod may open to another.
// The zero value is empty. Ranges are kept sorted and disjoint.
type PortSet struct {
	ranges map[corev1.Protocol][]portRange
}

// AllPorts is every port of every protocol.
func AllPorts() PortSet {
	var s PortSet
	for _, p := range protocols {
		s.add(p, 1, 65535)
	}
	return s
}

// add puts lo..hi of proto in s.
func (s *PortSet) add(proto corev1.Protocol, lo, hi int32) {
	if lo > hi || lo < 1 || hi > 65535 {
		return
	}
	if s.ranges == nil {
		s.ranges = map[corev1.Protocol][]portRange{}
	}
	s.ranges[proto] = merge(append(slices.Clone(s.ranges[proto]), portRange{lo, hi}))
}

// merge sorts rs and joins overlapping or adjacent ranges.
func merge(rs []portRange) []portRange {
	slices.SortFunc(rs, func(a, b portRange) int { return int(a.lo - b.lo) })
	var out []portRange
	for _, r := range rs {
		if n := len(out); n > 0 && r.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Union is every port in s or t.
func (s PortSet) Union(t PortSet) PortSet {
	var out PortSet
	for _, set := range []PortSet{s, t} {
		for p, rs := range set.ranges {
			for _, r := range rs {
				out.add(p, r.lo, r.hi)
			}
		}
	}
	return out
}

// Intersect is every port in both s and t.
func (s PortSet) Intersect(t PortSet) PortSet {
	var out PortSet
	for p, rs := range s.ranges {
		for _, a := range rs {
			for _, b := range t.ranges[p] {
				out.add(p, max(a.lo, b.lo), min(a.hi, b.hi))
			}
		}
	}
	return out
}

// Empty: no port at all.
func (s PortSet) Empty() bool {
	for _, rs := range s.ranges {
		if len(rs) > 0 {
			return false
		}
	}
	return true
}

// Full: every port of every protocol.
func (s PortSet) Full() bool {
	for _, p := range protocols {
		rs := s.ranges[p]
		if len(rs) != 1 || rs[0] != (portRange{1, 65535}) {
			return false
		}
	}
	return true
}

// Has reports whether s holds port of proto.
func (s PortSet) Has(proto corev1.Protocol, port int32) bool {
	for _, r := range s.ranges[proto] {
		if r.lo <= port && port <= r.hi {
			return true
		}
	}
	return false
}

// String reads "all", "none" or e.g. "TCP 80, 8000-8080; UDP 53".
func (s PortSet) String() string {
	switch {
	case s.Full():
		return "all"
	case s.Empty():
		return "none"
	}
	var parts []string
	for _, p := range protocols {
		rs := s.ranges[p]
		if len(rs) == 0 {
			continue
		}
		var each []string
		for _, r := range rs {
			if r.lo == r.hi {
				each = append(each, fmt.Sprint(r.lo))
			} else {
				each = append(each, fmt.Sprintf("%d-%d", r.lo, r.hi))
			}
		}
		parts = append(parts, string(p)+" "+strings.Join(each, ", "))
	}
	return strings.Join(parts, "; ")
}
