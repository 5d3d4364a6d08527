package policy

import (
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Rule is an ALLOW rule built in code rather than read from a file, e.g.
// translated from a Kubernetes AuthorizationPolicy. Fields mean what the
// file's keys mean (see the package documentation).
type Rule struct {
	// Name is unique within the policy and says in logs which rule decided:
	// letters, digits, '.', '-' and '_', optionally after "<namespace>/".
	Name  string
	Ports []uint16 // empty: every port
	From  []Peer   // at least one
	HTTP  *HTTPRule
}

// Peer is one kind of peer a rule allows. Set exactly one of SPIFFEID,
// Namespace (optionally with TrustDomain), TrustDomain or Unauthenticated.
type Peer struct {
	SPIFFEID        string
	Namespace       string
	TrustDomain     string
	Unauthenticated bool
}

// HTTPRule limits a rule to HTTP requests with these methods and canonical
// path prefixes (empty: any).
type HTTPRule struct {
	Methods      []string
	PathPrefixes []string
}

// New compiles rules with the checks Parse applies to a file; errors name
// the offending rule by its index and the file's key names (rules[1].from).
// local is the trust domain of Namespace peers without a TrustDomain. No
// rules make a policy that denies everything.
func New(rules []Rule, local spiffeid.TrustDomain) (*Policy, error) {
	docs := make([]ruleDoc, 0, len(rules))
	for _, r := range rules {
		d := ruleDoc{Name: r.Name}
		for _, port := range r.Ports {
			d.Ports = append(d.Ports, int(port))
		}
		for _, pe := range r.From {
			d.From = append(d.From, peerDoc(pe))
		}
		if r.HTTP != nil {
			d.HTTP = &httpDoc{Methods: r.HTTP.Methods, PathPrefixes: r.HTTP.PathPrefixes}
		}
		docs = append(docs, d)
	}
	return compile(docs, local, true)
}

// validQualifiedName is a rule name, or "<namespace>/<rule name>".
func validQualifiedName(s string) bool {
	ns, name, found := strings.Cut(s, "/")
	if !found {
		return validName(s)
	}
	return validLabel(ns) && name != "" && validName(name)
}
