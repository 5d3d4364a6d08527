package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/yamlfile"
)

// MaxSize caps a policy file before parsing.
const MaxSize = 1 << 20

// The file as written; the JSON tags give the status endpoint the same shape.
type fileDoc struct {
	Rules *[]ruleDoc `yaml:"rules"`
}

type ruleDoc struct {
	Name  string    `yaml:"name" json:"name"`
	Ports []int     `yaml:"ports" json:"ports,omitempty"`
	From  []peerDoc `yaml:"from" json:"from"`
	HTTP  *httpDoc  `yaml:"http" json:"http,omitempty"`
}

type peerDoc struct {
	SPIFFEID        string `yaml:"spiffe_id" json:"spiffe_id,omitempty"`
	Namespace       string `yaml:"namespace" json:"namespace,omitempty"`
	TrustDomain     string `yaml:"trust_domain" json:"trust_domain,omitempty"`
	Unauthenticated bool   `yaml:"unauthenticated" json:"unauthenticated,omitempty"`
}

type httpDoc struct {
	Methods      []string `yaml:"methods" json:"methods,omitempty"`
	PathPrefixes []string `yaml:"path_prefixes" json:"path_prefixes,omitempty"`
}

// Parse decodes a policy strictly and compiles it. local is the trust domain
// that `namespace:` peers belong to unless `trust_domain:` is next to them.
func Parse(data []byte, local spiffeid.TrustDomain) (*Policy, error) {
	const empty = "policy: file is empty; write `rules: []` to deny every peer, or list rules (see the package documentation)"
	var f fileDoc
	if err := yamlfile.Decode(data, &f, MaxSize, "policy", empty); err != nil {
		return nil, err
	}
	if f.Rules == nil {
		return nil, errors.New("policy: rules is required; write `rules: []` to deny every peer")
	}
	return compile(*f.Rules, local, false)
}

// compile builds the policy; qualified also accepts names of the form
// <namespace>/<name>, which rules built in code use to name their source.
func compile(docs []ruleDoc, local spiffeid.TrustDomain, qualified bool) (*Policy, error) {
	errs := yamlfile.Problems{Title: "policy: invalid policy"}
	p := &Policy{local: local}
	names := map[string]string{} // name → key path of the rule that has it
	for i, d := range docs {
		at := fmt.Sprintf("rules[%d]", i)
		switch {
		case d.Name == "":
			errs.Add(at+".name", "", "is required; name the rule so logs can say which rule decided")
		case qualified && !validQualifiedName(d.Name):
			errs.Add(at+".name", d.Name, "may only hold letters, digits, '.', '-' and '_' (at most 253), optionally after <namespace>/")
		case !qualified && !validName(d.Name):
			errs.Add(at+".name", d.Name, "may only hold letters, digits, '.', '-' and '_' (at most 253)")
		case names[d.Name] != "":
			errs.Add(at+".name", d.Name, "is already the name of %s; names must be unique", names[d.Name])
		default:
			names[d.Name] = at
		}
		p.rules = append(p.rules, compileRule(d, local, at, &errs))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func compileRule(d ruleDoc, local spiffeid.TrustDomain, at string, errs *yamlfile.Problems) rule {
	r := rule{name: d.Name}
	for j, port := range d.Ports {
		if port < 1 || port > 65535 {
			errs.Add(fmt.Sprintf("%s.ports[%d]", at, j), fmt.Sprint(port), "is not a port; use 1-65535")
			continue
		}
		r.ports = append(r.ports, uint16(port))
	}
	if len(d.From) == 0 {
		errs.Add(at+".from", "", "is empty; list the peers the rule allows")
	}
	for j, pd := range d.From {
		if pe, ok := compilePeer(pd, local, fmt.Sprintf("%s.from[%d]", at, j), errs); ok {
			r.from = append(r.from, pe)
		}
	}
	if d.HTTP != nil {
		r.http = compileHTTP(*d.HTTP, at+".http", errs)
	}
	return r
}

func compilePeer(d peerDoc, local spiffeid.TrustDomain, at string, errs *yamlfile.Problems) (peer, bool) {
	scoped := d.Namespace != "" || d.TrustDomain != ""
	switch {
	case d.Unauthenticated && (d.SPIFFEID != "" || scoped):
		errs.Add(at, "", "mixes unauthenticated: true with other keys; give plaintext peers an entry of their own")
	case d.Unauthenticated:
		return peer{kind: peerUnauthenticated}, true
	case d.SPIFFEID != "" && scoped:
		errs.Add(at, "", "mixes spiffe_id with namespace or trust_domain; an ID is exact, so give it an entry of its own")
	case d.SPIFFEID != "":
		id, err := identity.Parse(d.SPIFFEID)
		if err != nil {
			errs.Add(at+".spiffe_id", d.SPIFFEID, "%s; IDs are matched exactly, never as patterns", unwrapQuoted(err))
			return peer{}, false
		}
		return peer{kind: peerID, id: id}, true
	case !scoped:
		errs.Add(at, "", "names no peer; set spiffe_id, namespace, trust_domain or unauthenticated: true")
	default:
		return compileScope(d, local, at, errs)
	}
	return peer{}, false
}

// compileScope handles `namespace:` and `trust_domain:` peers.
func compileScope(d peerDoc, local spiffeid.TrustDomain, at string, errs *yamlfile.Problems) (peer, bool) {
	pe := peer{kind: peerTrustDomain, td: local}
	if d.TrustDomain != "" {
		td, err := identity.ParseTrustDomain(d.TrustDomain)
		if err != nil {
			errs.Add(at+".trust_domain", d.TrustDomain, "%s", unwrapQuoted(err))
			return peer{}, false
		}
		pe.td = td
	}
	if d.Namespace == "" {
		return pe, true
	}
	pe.kind, pe.namespace = peerNamespace, d.Namespace
	switch {
	case !validLabel(d.Namespace):
		errs.Add(at+".namespace", d.Namespace, "is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63); names are matched exactly, never as patterns")
	case pe.td.IsZero():
		errs.Add(at+".namespace", d.Namespace, "needs trust_domain next to it: the local trust domain is not known")
	default:
		return pe, true
	}
	return peer{}, false
}

func compileHTTP(d httpDoc, at string, errs *yamlfile.Problems) *httpMatch {
	h := &httpMatch{}
	for i, m := range d.Methods {
		if !validMethod(m) {
			errs.Add(fmt.Sprintf("%s.methods[%d]", at, i), m, "is not an upper-case HTTP method; methods are case-sensitive, write e.g. GET")
			continue
		}
		h.methods = append(h.methods, m)
	}
	for i, pre := range d.PathPrefixes {
		pat := fmt.Sprintf("%s.path_prefixes[%d]", at, i)
		if strings.Contains(pre, "?") {
			errs.Add(pat, pre, "holds a query; queries are ignored, so match the path only")
			continue
		}
		canon, err := canonicalPath(pre)
		switch {
		case err != nil:
			errs.Add(pat, pre, "is not a usable path prefix: %v", err)
		case canon != pre:
			errs.Add(pat, pre, "is not in canonical form, so no request would match it as written; write %s", canon)
		default:
			h.prefixes = append(h.prefixes, pre)
		}
	}
	return h
}

// unwrapQuoted drops the value from identity's messages: Problems quotes it.
func unwrapQuoted(err error) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, `": `); ok && strings.HasPrefix(msg, "invalid ") {
		return rest
	}
	return msg
}

func validName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !unreserved(c) || c == '~' {
			return false
		}
	}
	return true
}

// validLabel is an RFC 1123 label, the form of a Kubernetes namespace.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validMethod(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
