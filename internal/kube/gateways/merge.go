package gateways

import (
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/kube/gatewayapi"
)

// Merging status keeps what others wrote (other controllers' route
// parents, a Gateway's addresses) and each condition's last transition
// time while its status stays the same.

// setConditions sets want in conds; it reports whether anything changed.
func setConditions(conds *[]metav1.Condition, want []metav1.Condition) bool {
	changed := false
	for _, c := range want {
		if meta.SetStatusCondition(conds, c) {
			changed = true
		}
	}
	return changed
}

func mergeClassStatus(u *unstructured.Unstructured, want metav1.Condition) (bool, error) {
	return editStatus(u, func(st *gwv1.GatewayClassStatus) bool {
		return setConditions(&st.Conditions, []metav1.Condition{want})
	})
}

func mergeGatewayStatus(u *unstructured.Unstructured, want gwv1.GatewayStatus) (bool, error) {
	return editStatus(u, func(st *gwv1.GatewayStatus) bool {
		changed := setConditions(&st.Conditions, want.Conditions)
		ls := make([]gwv1.ListenerStatus, 0, len(want.Listeners))
		for _, wl := range want.Listeners {
			i := slices.IndexFunc(st.Listeners, func(l gwv1.ListenerStatus) bool { return l.Name == wl.Name })
			var conds []metav1.Condition
			if i < 0 {
				changed = true
			} else {
				old := st.Listeners[i]
				conds = slices.Clone(old.Conditions)
				changed = changed || old.AttachedRoutes != wl.AttachedRoutes || !reflect.DeepEqual(old.SupportedKinds, wl.SupportedKinds)
			}
			if setConditions(&conds, wl.Conditions) {
				changed = true
			}
			ls = append(ls, gwv1.ListenerStatus{Name: wl.Name, SupportedKinds: wl.SupportedKinds, AttachedRoutes: wl.AttachedRoutes, Conditions: conds})
		}
		if len(st.Listeners) != len(ls) {
			changed = true
		}
		st.Listeners = ls
		return changed
	})
}

func mergeRouteStatus(u *unstructured.Unstructured, ours []gwv1.RouteParentStatus) (bool, error) {
	return editStatus(u, func(st *gwv1.RouteStatus) bool {
		var changed bool
		st.Parents, changed = mergeParents(st.Parents, ours)
		return changed
	})
}

// mergeParents replaces hopseal's entries of a route's parents with ours,
// keeping other controllers' entries as they are.
func mergeParents(old, ours []gwv1.RouteParentStatus) ([]gwv1.RouteParentStatus, bool) {
	out := []gwv1.RouteParentStatus{}
	var prev []gwv1.RouteParentStatus
	for _, p := range old {
		if p.ControllerName == gatewayapi.ControllerName {
			prev = append(prev, p)
		} else {
			out = append(out, p)
		}
	}
	changed := len(prev) != len(ours)
	for i, n := range ours {
		var conds []metav1.Condition
		if i < len(prev) && reflect.DeepEqual(prev[i].ParentRef, n.ParentRef) {
			conds = slices.Clone(prev[i].Conditions)
		} else {
			changed = true
		}
		if setConditions(&conds, n.Conditions) {
			changed = true
		}
		out = append(out, gwv1.RouteParentStatus{ParentRef: n.ParentRef, ControllerName: gatewayapi.ControllerName, Conditions: conds})
	}
	return out, changed
}
