package authz

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/policy"
)

// DefaultRule names the rule of a workload no AuthorizationPolicy selects.
// It has no slash, so no object's rule can take the name.
const DefaultRule = "mesh-default"

// Workload is a pod as policies select it.
type Workload struct {
	Namespace string
	Labels    map[string]string
}

// Result is what the workload's proxy enforces, and why.
type Result struct {
	Policy *policy.Policy
	// Rules are what Policy was compiled from, for a proxy to compile again
	// (the controller streams them).
	Rules []policy.Rule
	Mode  v1alpha1.MTLSMode
	// Selected names the AuthorizationPolicies that select the workload, as
	// <namespace>/<name> in rule order. Empty: DefaultRule applies.
	Selected []string
	// ModeFrom names the MTLSPolicy that set Mode; empty: the strict default.
	ModeFrom string
	// Problems are objects that could not be applied as written.
	Problems []Problem
}

// Problem is an object the translation could not apply as written, for the
// object's Accepted condition.
type Problem struct {
	Kind    string // AuthorizationPolicy or MTLSPolicy
	Name    string // <namespace>/<name>
	Reason  string // v1alpha1.ReasonInvalid or v1alpha1.ReasonConflict
	Message string
}

func (p Problem) String() string {
	if p.Name == "" {
		return p.Reason + ": " + p.Message
	}
	return fmt.Sprintf("%s %s: %s: %s", p.Kind, p.Name, p.Reason, p.Message)
}

// ForWorkload computes the workload's policy and mode from the policies of
// its namespace; objects of other namespaces in the lists are ignored. td is
// the mesh's trust domain; a zero td refuses everything.
func ForWorkload(w Workload, td spiffeid.TrustDomain, aps []v1alpha1.AuthorizationPolicy, mps []v1alpha1.MTLSPolicy) Result {
	res := Result{Mode: v1alpha1.ModeStrict}
	if td.IsZero() {
		res.Policy = policy.DenyAll()
		res.Problems = []Problem{{Reason: v1alpha1.ReasonInvalid, Message: "the mesh's trust domain is not set, so every connection is refused; set the controller's trust domain"}}
		return res
	}
	res.Mode, res.ModeFrom, res.Problems = modeFor(w, mps)
	var rules []policy.Rule
	for _, ap := range inNamespace(aps, w.Namespace) {
		name := qualified(ap)
		picked, err := selects(ap.Spec.Selector, w.Labels)
		if err == nil && !picked {
			continue
		}
		// A selector that cannot be read counts as selecting: the workload
		// then fails closed instead of open.
		res.Selected = append(res.Selected, name)
		r, allows, err := RuleFor(ap, td)
		switch {
		case err != nil:
			res.Problems = append(res.Problems, invalid("AuthorizationPolicy", name, "%v; the policy allows nothing until it is fixed", err))
		case allows:
			rules = append(rules, r)
		}
	}
	if len(res.Selected) == 0 {
		rules = []policy.Rule{defaultRule(td, res.Mode)}
	}
	p, err := policy.New(rules, td)
	res.Rules = rules
	if err != nil { // each rule compiled alone, so this is a bug: fail closed
		p, res.Rules = policy.DenyAll(), nil
		res.Problems = append(res.Problems, Problem{Reason: v1alpha1.ReasonInvalid, Message: fmt.Sprintf("compile the workload's rules: %v; every connection is refused", err)})
	}
	res.Policy = p
	return res
}

// defaultRule admits the whole trust domain, and plaintext in permissive mode.
func defaultRule(td spiffeid.TrustDomain, mode v1alpha1.MTLSMode) policy.Rule {
	r := policy.Rule{Name: DefaultRule, From: []policy.Peer{{TrustDomain: td.Name()}}}
	if mode == v1alpha1.ModePermissive {
		r.From = append(r.From, policy.Peer{Unauthenticated: true})
	}
	return r
}

// selects reports whether a selector picks the labels; no selector picks
// every workload of the namespace.
func selects(sel *metav1.LabelSelector, set map[string]string) (bool, error) {
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(set)), nil
}

// inNamespace returns the objects of namespace ns by name, so rule order
// (which rule a decision names) does not depend on list order.
func inNamespace[T any, P interface {
	*T
	metav1.Object
}](objs []T, ns string) []P {
	var out []P
	for i := range objs {
		if o := P(&objs[i]); o.GetNamespace() == ns {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b P) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

func qualified(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func invalid(kind, name, format string, args ...any) Problem {
	return Problem{Kind: kind, Name: name, Reason: v1alpha1.ReasonInvalid, Message: fmt.Sprintf(format, args...)}
}
