package authz

import (
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/policy"
)

// RuleFor checks one AuthorizationPolicy as the proxies would apply it and
// returns its rule, named <namespace>/<name>. allows is false for a policy
// without peers: it selects workloads (so they default to deny) but allows
// nothing. The controller can use the error for the object's status.
func RuleFor(ap *v1alpha1.AuthorizationPolicy, td spiffeid.TrustDomain) (r policy.Rule, allows bool, err error) {
	if ap.Spec.Selector != nil {
		if _, err := metav1.LabelSelectorAsSelector(ap.Spec.Selector); err != nil {
			return policy.Rule{}, false, fmt.Errorf("spec.selector: %w", err)
		}
	}
	r = policy.Rule{Name: qualified(ap)}
	for _, port := range ap.Spec.Ports {
		if port < 1 || port > 65535 {
			return policy.Rule{}, false, fmt.Errorf("spec.ports: %d is not a port; use 1-65535", port)
		}
		r.Ports = append(r.Ports, uint16(port))
	}
	for i, pe := range ap.Spec.From {
		p, err := peerFor(pe, ap.Namespace, td)
		if err != nil {
			return policy.Rule{}, false, fmt.Errorf("spec.from[%d]: %w", i, err)
		}
		r.From = append(r.From, p)
	}
	if h := ap.Spec.HTTP; h != nil {
		r.HTTP = &policy.HTTPRule{}
		for _, m := range h.Methods {
			r.HTTP.Methods = append(r.HTTP.Methods, string(m))
		}
		for _, pre := range h.PathPrefixes {
			r.HTTP.PathPrefixes = append(r.HTTP.PathPrefixes, string(pre))
		}
	}
	if len(r.From) == 0 {
		return policy.Rule{}, false, nil
	}
	// The compiler's checks, on this rule alone so errors name this object.
	if _, err := policy.New([]policy.Rule{r}, td); err != nil {
		return policy.Rule{}, false, err
	}
	return r, true, nil
}

// peerFor maps a CRD peer to a policy peer; a service account becomes its
// SPIFFE ID, in the policy's own namespace unless another is named.
func peerFor(pe v1alpha1.Peer, policyNS string, td spiffeid.TrustDomain) (policy.Peer, error) {
	set := 0
	for _, b := range []bool{pe.ServiceAccount != nil, pe.Namespace != "", pe.SPIFFEID != "", pe.TrustDomain != "", pe.Unauthenticated} {
		if b {
			set++
		}
	}
	if set != 1 {
		return policy.Peer{}, fmt.Errorf("sets %d of serviceAccount, namespace, spiffeID, trustDomain and unauthenticated: true; set exactly one", set)
	}
	sa := pe.ServiceAccount
	if sa == nil {
		return policy.Peer{SPIFFEID: pe.SPIFFEID, Namespace: pe.Namespace, TrustDomain: pe.TrustDomain, Unauthenticated: pe.Unauthenticated}, nil
	}
	ns := sa.Namespace
	if ns == "" {
		ns = policyNS
	}
	id, err := identity.Kubernetes(td, ns, sa.Name)
	if err != nil {
		return policy.Peer{}, fmt.Errorf("serviceAccount: %w", err)
	}
	return policy.Peer{SPIFFEID: id.String()}, nil
}
