package policy

import "encoding/json"

// MarshalJSON renders the policy in the shape of its YAML file, with the
// default decision and the local trust domain, for the proxy's status page.
// Namespace peers always show the trust domain they were resolved to.
func (p *Policy) MarshalJSON() ([]byte, error) {
	out := struct {
		Default     string    `json:"default"`
		TrustDomain string    `json:"trust_domain,omitempty"`
		Rules       []ruleDoc `json:"rules"`
	}{Default: "deny", Rules: []ruleDoc{}}
	if p == nil {
		return json.Marshal(out)
	}
	out.TrustDomain = p.local.Name()
	for _, r := range p.rules {
		d := ruleDoc{Name: r.name, From: []peerDoc{}}
		for _, port := range r.ports {
			d.Ports = append(d.Ports, int(port))
		}
		for _, pe := range r.from {
			d.From = append(d.From, pe.doc())
		}
		if r.http != nil {
			d.HTTP = &httpDoc{Methods: r.http.methods, PathPrefixes: r.http.prefixes}
		}
		out.Rules = append(out.Rules, d)
	}
	return json.Marshal(out)
}

func (p peer) doc() peerDoc {
	switch p.kind {
	case peerID:
		return peerDoc{SPIFFEID: p.id.String()}
	case peerNamespace:
		return peerDoc{Namespace: p.namespace, TrustDomain: p.td.Name()}
	case peerTrustDomain:
		return peerDoc{TrustDomain: p.td.Name()}
	case peerUnauthenticated:
		return peerDoc{Unauthenticated: true}
	}
	return peerDoc{}
}
