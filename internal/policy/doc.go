// Package policy decides which peers may reach which ports of a workload,
// optionally down to HTTP methods and path prefixes. It is pure: the proxy
// reads files and calls Decide.
//
// A policy is a list of ALLOW rules; anything no rule allows is denied.
// The YAML form (unknown keys are errors, reported by key path):
//
//	rules:
//	  - name: frontend-reads-orders        # required, unique: [A-Za-z0-9._-]
//	    ports: [8080, 8443]                # optional; empty = every port
//	    from:                              # required; any of these peers
//	      - spiffe_id: spiffe://example.org/ns/shop/sa/frontend   # exact match, never a pattern
//	      - namespace: shop                # spiffe://<local td>/ns/shop/sa/<any>
//	      - namespace: billing             # ... of another trust domain when
//	        trust_domain: partner.org      #     trust_domain is next to it
//	      - trust_domain: partner.org      # any workload of that trust domain
//	      - unauthenticated: true          # plaintext peers (permissive mode only)
//	    http:                              # optional: only HTTP requests matching it
//	      methods: [GET, HEAD]             # optional; exact and case-sensitive
//	      path_prefixes: [/api/orders/]    # optional; canonical paths
//
// New builds a policy from the same rules as Go values (Rule), for rules
// translated from elsewhere such as Kubernetes objects; their names may be
// qualified as <namespace>/<name>.
//
// `rules: []` denies everything. Names are matched exactly: a dot or any
// other character in an ID, namespace or trust domain is literal.
//
// A path prefix matches whole segments: /api/orders matches /api/orders and
// /api/orders/7 but not /api/orders-old; /api/orders/ matches only below it.
//
// Request paths are made canonical before matching: the query is dropped,
// percent-encoded unreserved characters are decoded, `//` is merged and `.`
// and `..` segments are resolved, so every spelling of a path gets the
// decision of its canonical form. Spellings that servers disagree about are
// denied instead of guessed: an encoded slash or backslash (%2F, %5C), a raw
// backslash, `#`, control, space or non-ASCII bytes, `..` above the root, dot
// segments carrying `;` parameters, and targets not starting with `/` (except
// `*` with OPTIONS). Such a request is denied whenever only rules with `http`
// could allow it, even one that lists methods alone.
//
// Connection-level decisions (Request.HTTP nil) allow a peer when a rule
// without `http` admits it; when only rules with `http` admit it the decision
// is Allow with NeedHTTP set, and the proxy must decide each request.
package policy
