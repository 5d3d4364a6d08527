package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/kube/authz"
	"github.com/hopseal/hopseal/internal/kube/mesh"
)

// Accepted computes the Accepted condition of every hopseal policy in
// namespace: False with the first problem found compiling it for any of the
// namespace's pods (or on its own), True otherwise. Keys are
// "<Kind>/<name>".
func Accepted(s *mesh.State, namespace string) map[string]metav1.Condition {
	aps, mps := s.Policies(namespace)
	problems := map[string]authz.Problem{}
	note := func(ps []authz.Problem) {
		for _, p := range ps {
			key := p.Kind + "/" + p.Name
			if _, seen := problems[key]; !seen && p.Name != "" {
				problems[key] = p
			}
		}
	}
	for i := range aps {
		if _, _, err := authz.RuleFor(&aps[i], s.TrustDomain()); err != nil {
			note([]authz.Problem{{Kind: "AuthorizationPolicy", Name: namespace + "/" + aps[i].Name, Reason: v1alpha1.ReasonInvalid, Message: err.Error()}})
		}
	}
	for _, pod := range s.Pods(namespace) {
		note(authz.ForWorkload(authz.Workload{Namespace: namespace, Labels: pod.Labels}, s.TrustDomain(), aps, mps).Problems)
	}
	out := map[string]metav1.Condition{}
	cond := func(kind, name string, gen int64) {
		c := metav1.Condition{Type: v1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAccepted,
			Message: "compiled into the proxies' policy", ObservedGeneration: gen}
		if p, bad := problems[kind+"/"+namespace+"/"+name]; bad {
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, p.Reason, p.Message
		}
		out[kind+"/"+name] = c
	}
	for _, ap := range aps {
		cond("AuthorizationPolicy", ap.Name, ap.Generation)
	}
	for _, mp := range mps {
		cond("MTLSPolicy", mp.Name, mp.Generation)
	}
	return out
}

// WriteStatus sets each policy's Accepted condition where it changed. The
// informers' copies say where: the API server is asked only for those.
func WriteStatus(ctx context.Context, dyn dynamic.Interface, s *mesh.State, namespace string) error {
	conds := Accepted(s, namespace)
	current := map[string][]metav1.Condition{}
	aps, mps := s.Policies(namespace)
	for _, ap := range aps {
		current["AuthorizationPolicy/"+ap.Name] = ap.Status.Conditions
	}
	for _, mp := range mps {
		current["MTLSPolicy/"+mp.Name] = mp.Status.Conditions
	}
	for key, want := range conds {
		if cur := slices.Clone(current[key]); !meta.SetStatusCondition(&cur, want) {
			continue
		}
		kind, name, _ := strings.Cut(key, "/")
		gvr := mesh.AuthorizationPolicies
		if kind == "MTLSPolicy" {
			gvr = mesh.MTLSPolicies
		}
		if err := writeCondition(ctx, dyn.Resource(gvr).Namespace(namespace), name, want); err != nil {
			return fmt.Errorf("status of %s %s/%s: %w", kind, namespace, name, err)
		}
	}
	return nil
}

func writeCondition(ctx context.Context, r dynamic.ResourceInterface, name string, want metav1.Condition) error {
	u, err := r.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var status v1alpha1.PolicyStatus
	raw, _, _ := unstructured.NestedMap(u.Object, "status")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &status); err != nil {
		return err
	}
	if !meta.SetStatusCondition(&status.Conditions, want) {
		return nil
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return err
	}
	u.Object["status"] = obj
	_, err = r.UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: "hopseal-controller"})
	return err
}
