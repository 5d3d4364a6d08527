package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// MTLSMode says whether a workload accepts plaintext besides mesh mTLS.
// +kubebuilder:validation:Enum=strict;permissive
type MTLSMode string

const (
	// ModeStrict accepts only mesh mTLS connections (the default).
	ModeStrict MTLSMode = "strict"
	// ModePermissive also accepts plaintext, for workloads whose clients
	// are not all in the mesh yet.
	ModePermissive MTLSMode = "permissive"
)

// MTLSPolicy sets whether the workloads it selects accept only mesh mTLS
// (strict) or plaintext too (permissive, while migrating). The most
// specific policy wins: one with a selector over the namespace-wide one (no
// selector). A workload no MTLSPolicy selects is strict.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=hopseal,shortName=hsmtls
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,description="strict (mesh mTLS only) or permissive (plaintext too)"
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector.matchLabels`,description="Labels of the workloads the policy applies to (none: the whole namespace)"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether hopseal applied the policy"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MTLSPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec selects workloads and sets their mode.
	// +required
	Spec MTLSPolicySpec `json:"spec"`
	// Status is written by hopseal's controller.
	// +optional
	Status PolicyStatus `json:"status,omitempty"`
}

// MTLSPolicySpec selects workloads and sets their mode.
type MTLSPolicySpec struct {
	// Selector picks the workloads (pods) of the policy's namespace that the
	// policy applies to, by their labels. Omitted: every workload of the
	// namespace that no MTLSPolicy with a selector picks.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector is empty; omit selector to apply the policy to every workload of the namespace, or give matchLabels or matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="matchExpressions with operator In or NotIn need values"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="matchExpressions with operator Exists or DoesNotExist take no values"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Mode is strict (accept only mesh mTLS) or permissive (accept plaintext
	// too, for workloads whose clients are not all in the mesh yet).
	// In permissive mode a workload no AuthorizationPolicy selects admits
	// plaintext peers too; a selected one admits them only where a policy
	// lists unauthenticated: true.
	// +required
	Mode MTLSMode `json:"mode"`
}

// +kubebuilder:object:root=true

// MTLSPolicyList is a list of MTLSPolicy.
type MTLSPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the policies.
	Items []MTLSPolicy `json:"items"`
}
