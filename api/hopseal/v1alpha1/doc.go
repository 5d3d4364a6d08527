// Package v1alpha1 holds the hopseal.io/v1alpha1 API: AuthorizationPolicy
// (which peers may reach which workloads, on which ports, with which HTTP
// requests) and MTLSPolicy (strict or permissive mTLS per namespace or per
// workload).
//
// The CustomResourceDefinitions in deploy/crds are generated from these types
// by scripts/gen-crds.sh: the doc comments become the descriptions
// `kubectl explain` shows, and the kubebuilder markers become the validation
// the API server applies at admission.
//
// +kubebuilder:object:generate=true
// +groupName=hopseal.io
package v1alpha1
