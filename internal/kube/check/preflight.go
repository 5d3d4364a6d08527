package check

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

const installHint = "install hopseal: hopseal install | kubectl apply --server-side --field-manager hopseal -f -"

// installVerbs are what `kubectl apply --server-side` needs for a new object.
var installVerbs = []string{"create", "patch"}

var preSetupCategory = category{name: "pre-kubernetes-setup", checks: func(ctx context.Context, e *Env) []check {
	return append([]check{{desc: "hopseal CRDs are absent or compatible", run: crdsCompatible}}, permissionChecks(e)...)
}}

// crdsCompatible accepts a CRD that is absent, or installed with the same
// group and kind and at least our versions: applying ours over one that
// serves versions we lack would drop them.
func crdsCompatible(ctx context.Context, e *Env) outcome {
	var found, bad []string
	for _, want := range manifestOf(e, "CustomResourceDefinition") {
		have, err := e.Dynamic.Resource(crdGVR).Get(ctx, want.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fail(kubeconfigHint, "get CRD %s: %v", want.GetName(), err)
		}
		if why := crdMismatch(want, have); why != "" {
			bad = append(bad, want.GetName()+": "+why)
			continue
		}
		found = append(found, want.GetName())
	}
	switch {
	case len(bad) > 0:
		return fail("another hopseal release's CRDs are installed: run the `hopseal install` of that release, or upgrade it first",
			"%s", strings.Join(bad, "; "))
	case len(found) > 0:
		return ok("installed and compatible: %s", strings.Join(found, ", "))
	}
	return ok("none installed yet")
}

func crdMismatch(want, have *unstructured.Unstructured) string {
	for _, f := range [][]string{{"spec", "group"}, {"spec", "names", "kind"}} {
		w, _, _ := unstructured.NestedString(want.Object, f...)
		h, _, _ := unstructured.NestedString(have.Object, f...)
		if w != h {
			return fmt.Sprintf("%s is %q, want %q", strings.Join(f, "."), h, w)
		}
	}
	wantVersions, haveVersions := crdVersions(want), crdVersions(have)
	for _, v := range haveVersions {
		if !slices.Contains(wantVersions, v) {
			return fmt.Sprintf("serves version %s, which this hopseal does not know", v)
		}
	}
	return ""
}

func crdVersions(crd *unstructured.Unstructured) []string {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []string
	for _, v := range vs {
		if m, ok := v.(map[string]any); ok {
			name, _ := m["name"].(string)
			out = append(out, name)
		}
	}
	return out
}

func manifestOf(e *Env, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range e.Manifest {
		if obj.GetKind() == kind {
			out = append(out, obj)
		}
	}
	return out
}

// permissionChecks ask the API server (SelfSubjectAccessReview) whether the
// caller may create and patch each kind of object the manifest holds, in
// each namespace it uses.
func permissionChecks(e *Env) []check {
	var kinds []schema.GroupVersionKind
	for _, obj := range e.Manifest {
		if gvk := obj.GroupVersionKind(); !slices.Contains(kinds, gvk) {
			kinds = append(kinds, gvk)
		}
	}
	var mapper meta.RESTMapper
	var mapperErr error
	mapping := func(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
		if mapper == nil && mapperErr == nil {
			groups, err := restmapper.GetAPIGroupResources(e.Client.Discovery())
			mapper, mapperErr = restmapper.NewDiscoveryRESTMapper(groups), err
		}
		if mapperErr != nil {
			return nil, mapperErr
		}
		return mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	checks := make([]check, 0, len(kinds))
	for _, gvk := range kinds {
		checks = append(checks, check{desc: "can create " + gvk.Kind + " objects", run: func(ctx context.Context, e *Env) outcome {
			m, err := mapping(gvk)
			if err != nil {
				return fail("the API server does not serve "+gvk.String()+": is it older than Kubernetes "+MinKubernetes+"?", "%v", err)
			}
			return canInstall(ctx, e, m, gvk.Kind)
		}})
	}
	return checks
}

func canInstall(ctx context.Context, e *Env, m *meta.RESTMapping, kind string) outcome {
	var namespaces []string
	for _, obj := range manifestOf(e, kind) {
		if ns := obj.GetNamespace(); !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	var denied []string
	for _, ns := range namespaces {
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			ns = ""
		}
		for _, verb := range installVerbs {
			allowed, err := selfAllowed(ctx, e, authzv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: m.Resource.Group, Resource: m.Resource.Resource,
			})
			if err != nil {
				return fail(kubeconfigHint, "ask for %s %s: %v", verb, m.Resource.Resource, err)
			}
			if !allowed {
				denied = append(denied, strings.TrimSpace(verb+" "+m.Resource.GroupResource().String()+" "+inNamespace(ns)))
			}
		}
	}
	if len(denied) > 0 {
		return fail("install as a cluster administrator, or have one grant these", "not allowed: %s", strings.Join(denied, ", "))
	}
	return ok("")
}

func inNamespace(ns string) string {
	if ns == "" {
		return ""
	}
	return "in " + ns
}

func selfAllowed(ctx context.Context, e *Env, attrs authzv1.ResourceAttributes) (bool, error) {
	r, err := e.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}
