package authz

import (
	"fmt"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
)

// modeFor picks the workload's mTLS mode: MTLSPolicies with a selector that
// picks it beat namespace-wide ones; without either the mode is strict.
// Within a level strict beats permissive, and the losers are reported as
// conflicts. A policy whose selector cannot be read counts only when it says
// strict, so a broken object never opens a workload to plaintext.
func modeFor(w Workload, mps []v1alpha1.MTLSPolicy) (v1alpha1.MTLSMode, string, []Problem) {
	var specific, wide []*v1alpha1.MTLSPolicy
	var problems []Problem
	for _, mp := range inNamespace(mps, w.Namespace) {
		if mp.Spec.Mode != v1alpha1.ModeStrict && mp.Spec.Mode != v1alpha1.ModePermissive {
			problems = append(problems, invalid("MTLSPolicy", qualified(mp), "spec.mode %q is not strict or permissive; the policy is ignored", mp.Spec.Mode))
			continue
		}
		picked, err := selects(mp.Spec.Selector, w.Labels)
		switch {
		case err != nil:
			problems = append(problems, invalid("MTLSPolicy", qualified(mp), "spec.selector: %v; the policy is ignored unless it says strict", err))
			if mp.Spec.Mode == v1alpha1.ModeStrict {
				specific = append(specific, mp)
			}
		case !picked:
		case namespaceWide(mp):
			wide = append(wide, mp)
		default:
			specific = append(specific, mp)
		}
	}
	level := specific
	if len(level) == 0 {
		level = wide
	}
	if len(level) == 0 {
		return v1alpha1.ModeStrict, "", problems
	}
	winner := level[0]
	for _, mp := range level {
		if mp.Spec.Mode == v1alpha1.ModeStrict {
			winner = mp
			break
		}
	}
	for _, mp := range level {
		if mp.Spec.Mode != winner.Spec.Mode {
			problems = append(problems, Problem{Kind: "MTLSPolicy", Name: qualified(mp), Reason: v1alpha1.ReasonConflict,
				Message: fmt.Sprintf("says %s, but %s selects the same workloads just as specifically and says %s; %s wins", mp.Spec.Mode, qualified(winner), winner.Spec.Mode, winner.Spec.Mode)})
		}
	}
	return winner.Spec.Mode, qualified(winner), problems
}

// namespaceWide: no selector, or one without requirements (which the API
// server refuses, but an older object may have).
func namespaceWide(mp *v1alpha1.MTLSPolicy) bool {
	s := mp.Spec.Selector
	return s == nil || len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}
