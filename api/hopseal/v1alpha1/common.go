package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ConditionAccepted is the condition type hopseal's controller sets on every
// policy: True once the policy is compiled into the proxies' configuration,
// False with a reason and message when it cannot be.
const ConditionAccepted = "Accepted"

// Reasons of the Accepted condition.
const (
	ReasonAccepted = "Accepted" // compiled and distributed
	ReasonInvalid  = "Invalid"  // admitted by the API server but refused by the compiler
	ReasonConflict = "Conflict" // disagrees with another policy of the same scope; the safer choice wins
)

// Port is a TCP port number.
// +kubebuilder:validation:Minimum=1
// +kubebuilder:validation:Maximum=65535
type Port int32

// PolicyStatus is what hopseal's controller reports about a policy.
type PolicyStatus struct {
	// Conditions of the policy. Type Accepted is True once hopseal has
	// compiled the policy for the workloads it selects, and False with a
	// reason and message when it could not.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
