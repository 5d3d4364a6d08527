package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of hopseal's resources.
var GroupVersion = schema.GroupVersion{Group: "hopseal.io", Version: "v1alpha1"}

// AddToScheme registers the group's kinds (and their lists) in a scheme, for
// typed clients and decoders.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&AuthorizationPolicy{}, &AuthorizationPolicyList{},
		&MTLSPolicy{}, &MTLSPolicyList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Resource names a resource of this group, e.g. Resource("mtlspolicies").
func Resource(resource string) schema.GroupResource {
	return GroupVersion.WithResource(resource).GroupResource()
}
