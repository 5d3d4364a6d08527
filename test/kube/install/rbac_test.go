package install_test

import (
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/kube/controller"
)

const controllerUser = "system:serviceaccount:hopseal-system:hopseal-controller"

// controllerPermissions asks the API server's RBAC authorizer what the
// installed controller's service account may do: what the controller does,
// and nothing next to it. Then it does some of it with a real token.
func controllerPermissions(t *testing.T, c *cluster) {
	const sys, app = "hopseal-system", "shop"
	type attrs = authzv1.ResourceAttributes
	for _, tc := range []struct {
		name  string
		attrs attrs
		want  bool
	}{
		{"watch pods everywhere", attrs{Verb: "watch", Resource: "pods"}, true},
		{"list services", attrs{Verb: "list", Resource: "services"}, true},
		{"watch endpoint slices", attrs{Verb: "watch", Group: "discovery.k8s.io", Resource: "endpointslices"}, true},
		{"watch namespaces", attrs{Verb: "watch", Resource: "namespaces"}, true},
		{"watch MTLSPolicies", attrs{Verb: "watch", Group: "hopseal.io", Resource: "mtlspolicies"}, true},
		{"update policy status", attrs{Verb: "update", Group: "hopseal.io", Resource: "authorizationpolicies", Subresource: "status", Namespace: app}, true},
		{"review tokens", attrs{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"}, true},
		{"create the trust bundle", attrs{Verb: "create", Resource: "configmaps", Namespace: app}, true},
		{"update the trust bundle", attrs{Verb: "update", Resource: "configmaps", Namespace: app, Name: "hopseal-trust-bundle"}, true},
		{"create its CA Secret", attrs{Verb: "create", Resource: "secrets", Namespace: sys}, true},
		{"read its CA Secret", attrs{Verb: "get", Resource: "secrets", Namespace: sys, Name: "hopseal-ca"}, true},
		{"update its CA Secret", attrs{Verb: "update", Resource: "secrets", Namespace: sys, Name: "hopseal-ca"}, true},
		{"fill in its webhook", attrs{Verb: "patch", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "hopseal-injector"}, true},
		{"create its Lease", attrs{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: sys}, true},
		{"renew its Lease", attrs{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: sys, Name: "hopseal-controller"}, true},
		{"record events", attrs{Verb: "create", Group: "events.k8s.io", Resource: "events", Namespace: app}, true},

		{"change pods", attrs{Verb: "update", Resource: "pods", Namespace: app}, false},
		{"delete pods", attrs{Verb: "delete", Resource: "pods", Namespace: app}, false},
		{"change a policy's spec", attrs{Verb: "update", Group: "hopseal.io", Resource: "authorizationpolicies", Namespace: app}, false},
		{"update another ConfigMap", attrs{Verb: "update", Resource: "configmaps", Namespace: app, Name: "app-config"}, false},
		{"list every ConfigMap", attrs{Verb: "list", Resource: "configmaps", Namespace: app}, false},
		{"read Secrets elsewhere", attrs{Verb: "get", Resource: "secrets", Namespace: app, Name: "hopseal-ca"}, false},
		{"read another Secret", attrs{Verb: "get", Resource: "secrets", Namespace: sys, Name: "other"}, false},
		{"list Secrets", attrs{Verb: "list", Resource: "secrets", Namespace: sys}, false},
		{"read a root Secret not configured", attrs{Verb: "get", Resource: "secrets", Namespace: sys, Name: "hopseal-ca-root"}, false},
		{"patch another webhook", attrs{Verb: "patch", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "other"}, false},
		{"patch a validating webhook", attrs{Verb: "patch", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "hopseal-injector"}, false},
		{"take another Lease", attrs{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: sys, Name: "other"}, false},
		{"change RBAC", attrs{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx(t), &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
				User:               controllerUser,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:hopseal-system", "system:authenticated"},
				ResourceAttributes: &tc.attrs,
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status.Allowed != tc.want {
				t.Errorf("allowed = %v, want %v (%+v) %s", r.Status.Allowed, tc.want, tc.attrs, r.Status.Reason)
			}
		})
	}
	t.Run("publish the trust bundle with the controller's token", func(t *testing.T) {
		as := clientsFor(t, c.k, c.k.TokenConfig(c.k.ServiceAccountToken(t, sys, "hopseal-controller")))
		meshed := c.namespace(t, "hopseal-rbac-")
		for _, bundle := range [][]byte{rootPEM(t), rootPEM(t)} { // create, then update
			if err := controller.PublishBundle(ctx(t), as.cs, []string{sys, meshed}, bundle); err != nil {
				t.Fatalf("the controller's code under its own RBAC: %v", err)
			}
		}
		// An informer limited to the bundle by name may list and watch it.
		_, err := as.cs.CoreV1().ConfigMaps(meshed).List(ctx(t), metav1.ListOptions{FieldSelector: "metadata.name=hopseal-trust-bundle"})
		if err != nil {
			t.Errorf("list the trust bundle by name: %v", err)
		}
	})
}
