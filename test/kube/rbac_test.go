package kube_test

import (
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/testenv"
)

// RBAC is on: a service account may list pods only once a RoleBinding
// grants it, and only in that namespace.
func TestRBAC(t *testing.T) {
	k, cs := admin(t)
	ns, other := namespace(t), namespace(t)
	serviceAccount(t, cs, ns, "reader")
	sa, err := kubernetes.NewForConfig(k.TokenConfig(token(t, cs, ns, "reader")))
	if err != nil {
		t.Fatal(err)
	}
	listPods := func(in string) error {
		_, err := sa.CoreV1().Pods(in).List(ctx(t), metav1.ListOptions{})
		return err
	}
	if err := listPods(ns); !apierrors.IsForbidden(err) {
		t.Fatalf("list pods without a binding: %v, want Forbidden", err)
	}

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx(t), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader-reads-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "reader"}},
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx(t), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The authorizer reads bindings from an informer: allowed within moments.
	testenv.Eventually(t, 10*time.Second, "the RoleBinding to take effect", func() bool {
		return listPods(ns) == nil
	})
	if err := listPods(other); !apierrors.IsForbidden(err) {
		t.Fatalf("list pods in another namespace: %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets with a pods-only role: %v, want Forbidden", err)
	}
}
