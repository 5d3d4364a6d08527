// Package identity holds hopseal's SPIFFE ID conventions, thin over go-spiffe.
package identity

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// CAPath is the path of the CA's own serving identity within a trust domain.
const CAPath = "/hopseal/ca"

// Parse parses and validates a SPIFFE ID. Errors say what rule was broken.
func Parse(s string) (spiffeid.ID, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("invalid SPIFFE ID %q: %w (want spiffe://<trust-domain>/<path>, e.g. spiffe://example.org/ns/shop/sa/orders)", s, err)
	}
	if id.Path() == "" {
		return spiffeid.ID{}, fmt.Errorf("invalid SPIFFE ID %q: a workload ID needs a path after the trust domain (e.g. spiffe://%s/ns/shop/sa/orders)", s, id.TrustDomain())
	}
	return id, nil
}

// ParseTrustDomain parses a trust domain name such as "example.org".
func ParseTrustDomain(s string) (spiffeid.TrustDomain, error) {
	if strings.Contains(s, "/") {
		return spiffeid.TrustDomain{}, fmt.Errorf("invalid trust domain %q: give the name only, e.g. example.org", s)
	}
	td, err := spiffeid.TrustDomainFromString(s)
	if err != nil {
		return spiffeid.TrustDomain{}, fmt.Errorf("invalid trust domain %q: %w (use lowercase letters, digits, '.', '-' and '_')", s, err)
	}
	return td, nil
}

// Kubernetes returns spiffe://<td>/ns/<namespace>/sa/<serviceAccount>.
func Kubernetes(td spiffeid.TrustDomain, namespace, serviceAccount string) (spiffeid.ID, error) {
	if namespace == "" || serviceAccount == "" {
		return spiffeid.ID{}, fmt.Errorf("kubernetes identity needs a namespace and a service account, got %q and %q", namespace, serviceAccount)
	}
	return spiffeid.FromSegments(td, "ns", namespace, "sa", serviceAccount)
}

// KubernetesParts returns the namespace and service account of an ID in the
// Kubernetes form, and false for any other path.
func KubernetesParts(id spiffeid.ID) (namespace, serviceAccount string, ok bool) {
	seg := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if len(seg) != 4 || seg[0] != "ns" || seg[2] != "sa" {
		return "", "", false
	}
	return seg[1], seg[3], true
}

// CA returns the identity the CA serves with in trust domain td.
func CA(td spiffeid.TrustDomain) spiffeid.ID {
	return spiffeid.RequireFromPath(td, CAPath)
}
