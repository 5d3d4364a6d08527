package gatewayapi

import (
	"fmt"
	"github.com/hopseal/hopseal/internal/config"
	"path"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// compiled is a route's rules as hopseal can serve them.
type compiled struct {
	// HTTPRoute: path prefix → backend, in rule order (the first rule
	// naming a prefix wins), or a redirect to https.
	paths         []pathBackend
	backendRules  int
	redirectRules int
	redirectPort  int32 // 0: the default
	// TLSRoute: the one backend.
	pass *backend
	// unsupported says why hopseal cannot serve the route at all.
	unsupported string
	// The first backend that did not resolve (ResolvedRefs False).
	unresolved, unresolvedMsg string
}

type pathBackend struct {
	prefix string
	b      backend
	rule   int // which of the route's proxying rules: its backends split the prefix
}

func (t *translation) compile(r *route) *compiled {
	c := &compiled{}
	if r.tls != nil {
		t.compileTLS(r, c)
	} else {
		for i, rule := range r.http.Spec.Rules {
			if msg := t.compileHTTPRule(r, rule, c); msg != "" {
				c.unsupported = fmt.Sprintf("rules[%d] %s", i, msg)
				break
			}
		}
		if len(r.http.Spec.Rules) == 0 {
			c.unsupported = "the route has no rules"
		}
	}
	return c
}

func (c *compiled) resolve(b backend) backend {
	if b.reason != "" && c.unresolved == "" {
		c.unresolved, c.unresolvedMsg = b.reason, b.msg
	}
	return b
}

func (t *translation) compileTLS(r *route, c *compiled) {
	rules := r.tls.Spec.Rules
	if len(rules) != 1 || len(rules[0].BackendRefs) != 1 {
		c.unsupported = "a TLSRoute needs exactly one rule with one backendRef: hopseal passes a server name's connections to one backend"
		return
	}
	ref := rules[0].BackendRefs[0]
	b := backend{cfg: config.Backend{Weight: 1}} // weight 0: no backend takes the connections
	if ref.Weight == nil || *ref.Weight != 0 {
		b = c.resolve(t.resolveBackend(r, ref))
		b.cfg.Weight = 1
	}
	c.pass = &b
}

// compileHTTPRule adds one rule, or says why hopseal cannot serve it.
func (t *translation) compileHTTPRule(r *route, rule gwv1.HTTPRouteRule, c *compiled) string {
	prefixes, msg := pathPrefixes(rule.Matches)
	if msg != "" {
		return msg
	}
	var redirect *gwv1.HTTPRequestRedirectFilter
	for _, f := range rule.Filters {
		if f.Type != gwv1.HTTPRouteFilterRequestRedirect || f.RequestRedirect == nil {
			return fmt.Sprintf("has a %s filter; hopseal forwards requests as they are and supports only RequestRedirect to https", f.Type)
		}
		redirect = f.RequestRedirect
	}
	if redirect != nil {
		return c.addRedirect(redirect, prefixes, len(rule.BackendRefs))
	}
	if len(rule.BackendRefs) == 0 {
		return "has no backendRefs and no redirect; hopseal serves a path prefix from backends or redirects it"
	}
	// Several backendRefs split the rule's requests by weight. A ref that
	// does not resolve keeps its share, answered with 500, as the Gateway
	// API asks; one of weight 0 takes none.
	var bs []backend
	for _, ref := range rule.BackendRefs {
		if len(ref.Filters) > 0 {
			return "has filters on its backendRef; hopseal forwards requests as they are"
		}
		w := 1
		if ref.Weight != nil {
			w = int(*ref.Weight)
		}
		if w == 0 {
			continue
		}
		b := c.resolve(t.resolveBackend(r, ref.BackendRef))
		b.cfg.Weight = w
		bs = append(bs, b)
	}
	if len(bs) == 0 { // every weight is 0: the Gateway API answers with 500
		bs = []backend{{cfg: config.Backend{Weight: 1}}}
	}
	c.backendRules++
	for _, p := range prefixes {
		for _, b := range bs {
			c.paths = append(c.paths, pathBackend{prefix: p, b: b, rule: c.backendRules})
		}
	}
	return ""
}

func (c *compiled) addRedirect(f *gwv1.HTTPRequestRedirectFilter, prefixes []string, backends int) string {
	switch {
	case f.Scheme == nil || *f.Scheme != "https":
		return "redirects to another scheme than https; hopseal's HTTP listeners only redirect to https"
	case f.Hostname != nil || f.Path != nil:
		return "rewrites the hostname or path in its redirect; hopseal redirects to the same host and path over https"
	case backends > 0:
		return "both redirects and has backendRefs"
	case len(prefixes) != 1 || prefixes[0] != "/":
		return "redirects some paths only; hopseal's HTTP listeners redirect every path (match / or nothing)"
	}
	c.redirectRules++
	if f.Port != nil && c.redirectPort == 0 {
		c.redirectPort = *f.Port
	}
	return ""
}

// fitsListener says why the rules cannot be served on l, or "": HTTP
// listeners only redirect, HTTPS listeners only proxy.
func (c *compiled) fitsListener(l *lis) string {
	switch {
	case c.unsupported != "":
		return c.unsupported
	case l.spec.Protocol == gwv1.HTTPProtocolType && c.backendRules > 0:
		return fmt.Sprintf("listener %s is plain HTTP and hopseal never proxies plaintext: on it, a rule needs a RequestRedirect filter with scheme https", l.spec.Name)
	case l.spec.Protocol == gwv1.HTTPSProtocolType && c.redirectRules > 0:
		return fmt.Sprintf("listener %s is HTTPS: a RequestRedirect to https belongs on an HTTP listener", l.spec.Name)
	}
	return ""
}

// pathPrefixes are a rule's matches as path prefixes; hopseal matches on
// path prefixes only.
func pathPrefixes(matches []gwv1.HTTPRouteMatch) ([]string, string) {
	if len(matches) == 0 {
		return []string{"/"}, ""
	}
	var out []string
	for _, m := range matches {
		if len(m.Headers) > 0 || len(m.QueryParams) > 0 || m.Method != nil {
			return nil, "matches headers, query parameters or a method; hopseal matches path prefixes only"
		}
		p := "/"
		if m.Path != nil {
			if m.Path.Type != nil && *m.Path.Type != gwv1.PathMatchPathPrefix {
				return nil, fmt.Sprintf("has a path match of type %s; hopseal matches PathPrefix only", *m.Path.Type)
			}
			if m.Path.Value != nil {
				p = *m.Path.Value
			}
		}
		clean, ok := canonicalPrefix(p)
		if !ok {
			return nil, fmt.Sprintf("has path prefix %q, which is not a plain canonical path (no //, . or .. segments, query, escape or backslash)", p)
		}
		out = append(out, clean)
	}
	return out, ""
}

// canonicalPrefix drops a trailing slash (Gateway API matches whole path
// elements, so /api/ and /api are the same prefix) and refuses paths the
// gateway and a backend could read differently.
func canonicalPrefix(p string) (string, bool) {
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#%\\ ") || (p != "/" && path.Clean(p) != p) {
		return "", false
	}
	for _, r := range p {
		if r < 0x21 || r > 0x7e {
			return "", false
		}
	}
	return p, true
}
