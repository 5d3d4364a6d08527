package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/identity"
)

// Request is what a decision is about.
type Request struct {
	Peer spiffeid.ID // zero: unauthenticated (plaintext, permissive mode)
	Port uint16      // the app port the connection is for (original destination port)
	HTTP *HTTP       // nil: deciding for a whole connection, before any request is known
}

// HTTP describes one request. Path is the raw request-target as received.
type HTTP struct{ Method, Path string }

// Decision is the outcome of Decide. Reason is printable ASCII, safe to put
// in a log line or a response header.
type Decision struct {
	Allow    bool
	NeedHTTP bool   // connection-level: only rules with HTTP conditions match, so each request must be decided
	Rule     string // name of the rule that decided; "" when nothing matched (default deny)
	Reason   string
}

// Policy is a compiled, immutable set of ALLOW rules, safe for concurrent use.
// A nil *Policy denies everything.
type Policy struct {
	local spiffeid.TrustDomain
	rules []rule
}

type rule struct {
	name  string
	ports []uint16 // empty: every port
	from  []peer
	http  *httpMatch // nil: the rule allows whole connections
}

type peerKind uint8

const (
	peerID peerKind = iota + 1
	peerNamespace
	peerTrustDomain
	peerUnauthenticated
)

type peer struct {
	kind      peerKind
	id        spiffeid.ID
	td        spiffeid.TrustDomain
	namespace string
}

type httpMatch struct {
	methods  []string // empty: any method
	prefixes []string // canonical; empty: any path
}

// DenyAll returns a policy that allows nothing.
func DenyAll() *Policy { return &Policy{} }

// AllowIDs returns the allow list of an explicit inbound listener as a
// policy with one rule named "allow". Port 0 means every port.
func AllowIDs(port uint16, ids ...spiffeid.ID) *Policy {
	r := rule{name: "allow"}
	if port != 0 {
		r.ports = []uint16{port}
	}
	for _, id := range ids {
		if !id.IsZero() {
			r.from = append(r.from, peer{kind: peerID, id: id})
		}
	}
	if len(r.from) == 0 {
		return DenyAll()
	}
	return &Policy{rules: []rule{r}}
}

// Decide applies the policy to r. The first rule in file order that allows
// the request decides; with none, the request is denied.
func (p *Policy) Decide(r Request) Decision {
	if p == nil {
		p = DenyAll()
	}
	first := -1 // the first rule with HTTP conditions that admits peer and port
	for i := range p.rules {
		ru := &p.rules[i]
		if !ru.admits(r.Peer, r.Port) {
			continue
		}
		if ru.http == nil {
			return Decision{Allow: true, Rule: ru.name,
				Reason: fmt.Sprintf("%s may reach port %d by rule %s", who(r.Peer), r.Port, ru.name)}
		}
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		return Decision{Reason: fmt.Sprintf("%s may not reach port %d: no rule matches (default deny)", who(r.Peer), r.Port)}
	}
	if r.HTTP == nil {
		name := p.rules[first].name
		return Decision{Allow: true, NeedHTTP: true, Rule: name,
			Reason: fmt.Sprintf("%s may reach port %d with HTTP requests that rule %s allows", who(r.Peer), r.Port, name)}
	}
	return p.decideHTTP(r, first)
}

func (p *Policy) decideHTTP(r Request, first int) Decision {
	method := r.HTTP.Method
	canon, err := canonicalRequest(method, r.HTTP.Path)
	if err == nil {
		for i := first; i < len(p.rules); i++ {
			ru := &p.rules[i]
			if ru.http != nil && ru.admits(r.Peer, r.Port) && ru.http.matches(method, canon) {
				return Decision{Allow: true, Rule: ru.name,
					Reason: fmt.Sprintf("%s may %s %s on port %d by rule %s", who(r.Peer), printable(method), printable(canon), r.Port, ru.name)}
			}
		}
	}
	why := "no rule matches (default deny)"
	if err != nil {
		why = err.Error()
	}
	return Decision{Reason: fmt.Sprintf("%s may not %s %s on port %d: %s", who(r.Peer), printable(method), printable(r.HTTP.Path), r.Port, why)}
}

func (r *rule) admits(id spiffeid.ID, port uint16) bool {
	if len(r.ports) > 0 && !slices.Contains(r.ports, port) {
		return false
	}
	for _, p := range r.from {
		if p.matches(id) {
			return true
		}
	}
	return false
}

func (p peer) matches(id spiffeid.ID) bool {
	if p.kind == peerUnauthenticated || id.IsZero() {
		return p.kind == peerUnauthenticated && id.IsZero()
	}
	switch p.kind {
	case peerID:
		return id == p.id
	case peerTrustDomain:
		return id.TrustDomain() == p.td
	case peerNamespace:
		ns, _, ok := identity.KubernetesParts(id)
		return ok && id.TrustDomain() == p.td && ns == p.namespace
	}
	return false
}

func (h *httpMatch) matches(method, canon string) bool {
	if len(h.methods) > 0 && !slices.Contains(h.methods, method) {
		return false
	}
	if len(h.prefixes) == 0 {
		return true
	}
	for _, pre := range h.prefixes {
		if underPrefix(canon, pre) {
			return true
		}
	}
	return false
}

// underPrefix matches whole segments, so /api/orders does not match
// /api/orders-old.
func underPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

func who(id spiffeid.ID) string {
	if id.IsZero() {
		return "unauthenticated peer"
	}
	return id.String()
}

// printable keeps peer-supplied text safe for a header value and short.
func printable(s string) string {
	const max = 128
	if len(s) > max {
		s = s[:max] + "..."
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.QuoteToASCII(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
