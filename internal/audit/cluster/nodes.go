package cluster

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/hopseal/hopseal/internal/audit"
)

// Rules of the node checks.
const (
	RuleNodeHardware            = "cluster/node-hardware-encryption"
	RuleUnmeshedOnUncoveredNode = "cluster/unmeshed-pod-unencrypted-node"
)

// maxPairs bounds the pairs listed in the evidence data; counts are
// always given.
const maxPairs = 1000

// NodeReport is the hardware encryption between nodes.
type NodeReport struct {
	Table       TableRef   `json:"table"`
	Assumption  string     `json:"assumption"`
	Nodes       []NodeInfo `json:"nodes"`
	Pairs       int        `json:"pairs"`
	Covered     int        `json:"covered_pairs"`
	HopsealOnly int        `json:"hopseal_only_pairs"`
	// PairList: every pair, when there are at most maxPairs.
	PairList []NodePair `json:"pair_list,omitempty"`
}

// TableRef says which instance table the report used.
type TableRef struct {
	Source  string `json:"source"`
	Written string `json:"written"`
}

// NodeInfo is one node's instance type and what the table says of it.
type NodeInfo struct {
	Name         string   `json:"name"`
	InstanceType string   `json:"instance_type,omitempty"`
	Region       string   `json:"region,omitempty"`
	Hardware     Hardware `json:"hardware"`
	Reason       string   `json:"reason"`
}

// NodePair is two nodes and whether traffic between them is encrypted in
// hardware.
type NodePair struct {
	A        string   `json:"a"`
	B        string   `json:"b"`
	Hardware Hardware `json:"hardware"`
}

const nodeAssumption = "hardware encryption between two covered nodes assumes they share one VPC (or peered VPCs) and that their traffic passes no load balancer or transit gateway; the scan cannot see VPCs"

// instanceType reads a node's type from the well-known label, or the
// deprecated beta one.
func instanceType(n *corev1.Node) string {
	if t := n.Labels[corev1.LabelInstanceTypeStable]; t != "" {
		return t
	}
	return n.Labels[corev1.LabelInstanceType]
}

// nodeReport classifies every node and every pair of them.
func nodeReport(nodes []corev1.Node, t *InstanceTable) NodeReport {
	r := NodeReport{Table: TableRef{Source: t.Source, Written: t.Written}, Assumption: nodeAssumption}
	for i := range nodes {
		n := &nodes[i]
		info := NodeInfo{Name: n.Name, InstanceType: instanceType(n), Region: n.Labels[corev1.LabelTopologyRegion]}
		info.Hardware, info.Reason = t.Covers(info.InstanceType)
		r.Nodes = append(r.Nodes, info)
	}
	slices.SortFunc(r.Nodes, func(a, b NodeInfo) int { return cmp.Compare(a.Name, b.Name) })
	for i, a := range r.Nodes {
		for _, b := range r.Nodes[i+1:] {
			hw := pairHardware(a, b)
			r.Pairs++
			if hw == HardwareCovered {
				r.Covered++
			} else {
				r.HopsealOnly++
			}
			if len(r.PairList) < maxPairs {
				r.PairList = append(r.PairList, NodePair{A: a.Name, B: b.Name, Hardware: hw})
			}
		}
	}
	if r.Pairs > maxPairs {
		r.PairList = nil
	}
	return r
}

// pairHardware: both nodes covered and not known to be in different
// Regions; unknown when either node is.
func pairHardware(a, b NodeInfo) Hardware {
	switch {
	case a.Hardware == HardwareCovered && b.Hardware == HardwareCovered:
		if a.Region != "" && b.Region != "" && a.Region != b.Region {
			return HardwareNotCovered
		}
		return HardwareCovered
	case a.Hardware == HardwareUnknown || b.Hardware == HardwareUnknown:
		return HardwareUnknown
	}
	return HardwareNotCovered
}

// nodeFindings records the hardware coverage (Info: hopseal encrypts
// either way) and flags pods outside the mesh on nodes without it, whose
// traffic to other nodes nothing encrypts.
func nodeFindings(v *view, r NodeReport) []audit.Finding {
	if len(r.Nodes) == 0 {
		return nil
	}
	var ev []string
	hw := map[string]NodeInfo{}
	for _, n := range r.Nodes {
		hw[n.Name] = n
		ev = append(ev, fmt.Sprintf("%s: %s, %s (%s)", n.Name, orNone(n.InstanceType), n.Hardware, n.Reason))
	}
	ev = append(ev, nodeAssumption, fmt.Sprintf("instance table of %s, from %s", r.Table.Written, r.Table.Source))
	out := []audit.Finding{finding(RuleNodeHardware, audit.Info,
		fmt.Sprintf("%d of %d node pairs have hardware encryption in transit; %d rely on hopseal alone", r.Covered, r.Pairs, r.HopsealOnly),
		subject("Cluster", "", "nodes"), []audit.Control{audit.NISTSC8_1}, "", ev...)}
	byNode := map[string][]*corev1.Pod{}
	for _, p := range v.pods {
		if n, ok := hw[p.Spec.NodeName]; ok && n.Hardware != HardwareCovered && !v.mesh[p].proxy && !v.systemNamespace(p.Namespace) {
			byNode[n.Name] = append(byNode[n.Name], p)
		}
	}
	for _, n := range r.Nodes {
		if pods := byNode[n.Name]; len(pods) > 0 {
			out = append(out, finding(RuleUnmeshedOnUncoveredNode, audit.Medium,
				fmt.Sprintf("%s: pods outside the mesh on a node without hardware encryption", n.Name),
				subject("Node", "", n.Name), audit.InTransit,
				"mesh these pods (see the mesh coverage findings), or move them to a node type from the instance table",
				fmt.Sprintf("instance type %s: %s (%s)", orNone(n.InstanceType), n.Hardware, n.Reason),
				"without the proxy: "+podRefs(pods)))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func podRefs(pods []*corev1.Pod) string {
	s := make([]string, len(pods))
	for i, p := range pods {
		s[i] = p.Namespace + "/" + p.Name
	}
	return fmt.Sprintf("%s (%s)", list(s), plural(len(pods), "pod"))
}
