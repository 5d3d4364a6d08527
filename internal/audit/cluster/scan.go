package cluster

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

// EvidenceKind is the Evidence.Kind of cluster evidence.
const EvidenceKind = "cluster"

// Data is the detail of cluster evidence (Evidence.Data).
type Data struct {
	Namespaces []NamespaceSummary `json:"namespaces"`
	// Exposures are the load balancer ports and Ingress backends.
	Exposures []Exposure `json:"exposures"`
	// Reachability is what NetworkPolicies allow between namespaces.
	Reachability Matrix      `json:"reachability"`
	Trust        Inventory   `json:"trust"`
	Nodes        NodeReport  `json:"nodes"`
	Rules        []RuleCount `json:"rules"`
}

// NamespaceSummary is one scanned namespace's mesh and policy posture.
type NamespaceSummary struct {
	Name               string `json:"name"`
	System             bool   `json:"system,omitempty"`
	Injection          bool   `json:"injection"` // labelled hopseal.io/inject=enabled
	Pods               int    `json:"pods"`
	Meshed             int    `json:"meshed"`
	Permissive         int    `json:"permissive"`
	HostNetwork        int    `json:"host_network"`
	DefaultDenyIngress bool   `json:"default_deny_ingress"`
	DefaultDenyEgress  bool   `json:"default_deny_egress"`
}

// RuleCount counts a rule's findings, so a report can show what was
// checked and passed (count 0).
type RuleCount struct {
	Rule  string `json:"rule"`
	Count int    `json:"count"`
}

// Rules are every rule the scan applies.
var Rules = []string{
	RuleLBTLSTerminated, RuleLBPlaintext, RuleLBBackendUnknown, RuleIngressTLSTerminated, RuleIngressPlaintext, RuleIngressBackendUnknown,
	RuleNamespaceNotMeshed, RulePodMissingProxy, RulePodOptedOut, RuleSystemNamespace, RuleHostNetwork, RulePermissiveMode, RuleInterceptionExclude,
	RuleNoDefaultDenyIngress, RuleNoDefaultDenyEgress, RuleEgressWithoutDNS, RuleAllowAll,
	RuleCAMissing, RuleCertUnreadable, RuleCertExpired, RuleCertNotYetValid, RuleCertExpiring, RuleCertWeak, RuleChainBroken, RuleBundleStale, RuleLeafLifetime, RuleTrustInventory,
	RuleNodeHardware, RuleUnmeshedOnUncoveredNode,
}

// Result is what a scan found.
type Result struct {
	Findings []audit.Finding
	Data     Data
}

// Scan runs every check on a snapshot. It does no I/O.
func Scan(s *Snapshot, o Options) Result {
	v := newView(s, o)
	lbFindings, lbExposures := loadBalancers(v)
	ingFindings, ingExposures := ingresses(v)
	ca := readCA(v)
	nodes := nodeReport(s.Nodes, v.o.InstanceTable)
	fs := slices.Concat(lbFindings, ingFindings, coverage(v), posture(v), certFindings(v, ca), nodeFindings(v, nodes))
	slices.SortStableFunc(fs, func(a, b audit.Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Subject.Namespace, b.Subject.Namespace), cmp.Compare(a.Subject.Name, b.Subject.Name))
	})
	var endpoints []Endpoint
	for _, p := range v.pods {
		if !p.Spec.HostNetwork {
			endpoints = append(endpoints, endpoint(p))
		}
	}
	return Result{Findings: fs, Data: Data{
		Namespaces:   summaries(v),
		Exposures:    slices.Concat(lbExposures, ingExposures),
		Reachability: Reachability(v.policies, endpoints),
		Trust:        ca.set.inv,
		Nodes:        nodes,
		Rules:        counts(fs),
	}}
}

func summaries(v *view) []NamespaceSummary {
	var out []NamespaceSummary
	for _, ns := range v.scannedNamespaces() {
		s := NamespaceSummary{Name: ns, System: v.systemNamespace(ns), Injection: v.nsLabels[ns][inject.LabelInject] == inject.Enabled,
			DefaultDenyIngress: defaultDeny(v, ns, true), DefaultDenyEgress: defaultDeny(v, ns, false)}
		for _, p := range v.podsIn(ns) {
			m := v.mesh[p]
			s.Pods++
			switch {
			case p.Spec.HostNetwork:
				s.HostNetwork++
			case m.proxy:
				s.Meshed++
				if m.mode == v1alpha1.ModePermissive {
					s.Permissive++
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func counts(fs []audit.Finding) []RuleCount {
	out := make([]RuleCount, len(Rules))
	for i, r := range Rules {
		out[i].Rule = r
		for _, f := range fs {
			if f.Rule == r {
				out[i].Count++
			}
		}
	}
	return out
}

// Evidence is the result as an evidence document. source names the
// cluster (its API server's URL); partial says what could not be read.
func (r Result) Evidence(source string, taken time.Time, partial []string) (audit.Evidence, error) {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return audit.Evidence{}, fmt.Errorf("cluster evidence: %w", err)
	}
	findings := r.Findings
	if findings == nil {
		findings = []audit.Finding{}
	}
	return audit.Evidence{Kind: EvidenceKind, Version: audit.EvidenceVersion, Source: source, Taken: taken.UTC().Format(time.RFC3339),
		Findings: findings, Data: data, Partial: strings.Join(partial, "; ")}, nil
}
