package check

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The control plane's fixed names.
const (
	Namespace  = "hopseal-system"
	Controller = "hopseal-controller" // Deployment, Service, ServiceAccount, RBAC
)

const logsHint = "see why: kubectl -n " + Namespace + " describe deploy/" + Controller +
	"; kubectl -n " + Namespace + " logs deploy/" + Controller

var crdCategory = category{name: "hopseal-crds", checks: fixed(
	check{desc: "hopseal CRDs are installed", fatal: true, run: crdsInstalled},
	gatewayCRDCheck,
)}

func crdsInstalled(ctx context.Context, e *Env) outcome {
	var missing, notReady, found []string
	for _, want := range manifestOf(e, "CustomResourceDefinition") {
		have, err := e.Dynamic.Resource(crdGVR).Get(ctx, want.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, want.GetName())
		case err != nil:
			return fail(kubeconfigHint, "get CRD %s: %v", want.GetName(), err)
		case !established(have):
			notReady = append(notReady, want.GetName())
		default:
			found = append(found, want.GetName())
		}
	}
	switch {
	case len(missing) > 0:
		return fail(installHint, "missing: %s", strings.Join(missing, ", "))
	case len(notReady) > 0:
		return fail("see the CRD's conditions: kubectl get crd "+notReady[0]+" -o yaml", "not established: %s", strings.Join(notReady, ", "))
	}
	return ok("%s", strings.Join(found, ", "))
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" {
			return m["status"] == "True"
		}
	}
	return false
}

var controlPlaneCategory = category{name: "hopseal-control-plane", checks: fixed(
	check{desc: "control plane namespace exists", fatal: true, run: func(ctx context.Context, e *Env) outcome {
		_, err := e.Client.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fail(installHint, "namespace %s not found", Namespace)
		}
		if err != nil {
			return fail(kubeconfigHint, "%v", err)
		}
		return ok("%s", Namespace)
	}},
	check{desc: "controller has its service account and RBAC", run: controllerRBAC},
	check{desc: "control plane is ready", run: controllerReady},
)}

func controllerRBAC(ctx context.Context, e *Env) outcome {
	rbac := e.Client.RbacV1()
	gets := []struct {
		what string
		get  func() error
	}{
		{"ServiceAccount", func() error {
			_, err := e.Client.CoreV1().ServiceAccounts(Namespace).Get(ctx, Controller, metav1.GetOptions{})
			return err
		}},
		{"ClusterRole", func() error { _, err := rbac.ClusterRoles().Get(ctx, Controller, metav1.GetOptions{}); return err }},
		{"ClusterRoleBinding", func() error {
			_, err := rbac.ClusterRoleBindings().Get(ctx, Controller, metav1.GetOptions{})
			return err
		}},
		{"Role", func() error { _, err := rbac.Roles(Namespace).Get(ctx, Controller, metav1.GetOptions{}); return err }},
		{"RoleBinding", func() error {
			_, err := rbac.RoleBindings(Namespace).Get(ctx, Controller, metav1.GetOptions{})
			return err
		}},
	}
	var missing []string
	for _, g := range gets {
		err := g.get()
		if apierrors.IsNotFound(err) {
			missing = append(missing, g.what+" "+Controller)
			continue
		}
		if err != nil {
			return fail(kubeconfigHint, "get %s %s: %v", g.what, Controller, err)
		}
	}
	if len(missing) > 0 {
		return fail(installHint, "missing: %s", strings.Join(missing, ", "))
	}
	return ok("")
}

func controllerReady(ctx context.Context, e *Env) outcome {
	d, err := e.Client.AppsV1().Deployments(Namespace).Get(ctx, Controller, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fail(installHint, "Deployment %s not found", Controller)
	}
	if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ready := d.Status.ReadyReplicas
	msg := fmt.Sprintf("%d of %d replicas ready", ready, want)
	switch {
	case ready == 0:
		return fail(logsHint, "%s", msg)
	case ready < want:
		return warn("the CA, mesh stream and webhook run on fewer replicas than asked; "+logsHint, "%s", msg)
	}
	return ok("%s", msg)
}
