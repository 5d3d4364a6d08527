package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AuthorizationPolicy says which peers may reach the workloads it selects,
// on which ports and with which HTTP requests. A workload selected by at
// least one AuthorizationPolicy refuses everything the policies do not allow;
// a workload selected by none admits any peer of the mesh's trust domain
// (and plaintext peers too while its MTLSPolicy is permissive).
// `spec: {}` (no selector, no peers) is the namespace-wide default-deny
// switch.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=hopseal,shortName=hsauthz
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector.matchLabels`,description="Labels of the workloads the policy applies to (none: every workload of the namespace)"
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.from`,description="Peers the policy allows (none: it only denies)"
// +kubebuilder:printcolumn:name="Ports",type=string,JSONPath=`.spec.ports`,description="Ports the policy applies to (none: every port)"
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`,description="Whether hopseal compiled the policy"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which workloads the policy selects and what it allows them
	// to receive.
	// +required
	Spec AuthorizationPolicySpec `json:"spec"`
	// Status is written by hopseal's controller.
	// +optional
	Status PolicyStatus `json:"status,omitempty"`
}

// AuthorizationPolicySpec selects workloads and lists what they may receive.
//
// +kubebuilder:validation:XValidation:rule="has(self.from) || (!has(self.ports) && !has(self.http))",message="ports and http only narrow what from allows, and this policy has no from: list the peers to allow in from, or drop ports and http to make a default-deny policy"
type AuthorizationPolicySpec struct {
	// Selector picks the workloads (pods) of the policy's namespace that the
	// policy applies to, by their labels. Omitted: every workload of the
	// namespace.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector is empty; omit selector to apply the policy to every workload of the namespace, or give matchLabels or matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="matchExpressions with operator In or NotIn need values"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="matchExpressions with operator Exists or DoesNotExist take no values"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Ports are the workload's own (container) ports the policy applies to.
	// Omitted: every port.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="size(self) > 0",message="ports is empty; omit ports to mean every port, or list ports from 1 to 65535"
	Ports []Port `json:"ports,omitempty"`

	// From lists the peers allowed to connect; a connection is allowed when
	// any one of them matches. Omitted: the policy allows nothing, but still
	// makes the workloads it selects refuse what no other policy allows.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="size(self) > 0",message="from is empty; omit from for a policy that only denies, or list the peers to allow"
	From []Peer `json:"from,omitempty"`

	// HTTP narrows the policy to HTTP requests with these methods and paths,
	// decided request by request. Omitted: whole connections are allowed,
	// whatever protocol they carry. Present: only HTTP is allowed, even when
	// both lists are empty.
	// +optional
	HTTP *HTTPRule `json:"http,omitempty"`
}

// Peer is one kind of client the policy allows. Set exactly one field.
//
// +kubebuilder:validation:XValidation:rule="(has(self.serviceAccount) ? 1 : 0) + (has(self.namespace) ? 1 : 0) + (has(self.spiffeID) ? 1 : 0) + (has(self.trustDomain) ? 1 : 0) + (has(self.unauthenticated) ? 1 : 0) == 1",message="a peer sets exactly one of serviceAccount, namespace, spiffeID, trustDomain or unauthenticated; list each kind of peer as an entry of its own"
type Peer struct {
	// ServiceAccount allows the workloads that run as this Kubernetes
	// service account: the peer whose SPIFFE ID is
	// spiffe://<trust domain>/ns/<namespace>/sa/<name>.
	// +optional
	ServiceAccount *ServiceAccountRef `json:"serviceAccount,omitempty"`

	// Namespace allows every workload of this namespace in the mesh's trust
	// domain (SPIFFE IDs spiffe://<trust domain>/ns/<namespace>/sa/<any>).
	// The name is matched exactly, never as a pattern.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="namespace must be a namespace name: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Namespace string `json:"namespace,omitempty"`

	// SPIFFEID allows exactly this identity, e.g.
	// spiffe://partner.example/billing: for peers outside Kubernetes or in
	// another trust domain. Matched exactly, never as a pattern.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('spiffe://')",message="spiffeID must start with spiffe://, e.g. spiffe://cluster.local/ns/shop/sa/orders"
	// +kubebuilder:validation:XValidation:rule="self.matches('^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]+)+$')",message="spiffeID must be spiffe://<trust domain>/<path>: a trust domain of lowercase letters, digits, '.', '-' and '_', then a path of non-empty segments of letters, digits, '.', '-' and '_', without a trailing slash"
	// +kubebuilder:validation:XValidation:rule="!self.matches('/[.][.]?(/|$)')",message="spiffeID must not have '.' or '..' path segments"
	SPIFFEID string `json:"spiffeID,omitempty"`

	// TrustDomain allows every workload of this trust domain, e.g.
	// partner.example (the name only: no spiffe:// and no path).
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9._-]+$')",message="trustDomain must be a trust domain name only, such as cluster.local: lowercase letters, digits, '.', '-' and '_', without spiffe:// or a path"
	TrustDomain string `json:"trustDomain,omitempty"`

	// Unauthenticated: true allows plaintext peers. They only arrive while
	// the workload's MTLSPolicy is permissive.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self",message="unauthenticated: false allows nothing; write unauthenticated: true to allow plaintext peers, or remove the entry"
	Unauthenticated bool `json:"unauthenticated,omitempty"`
}

// ServiceAccountRef names a Kubernetes service account.
type ServiceAccountRef struct {
	// Namespace of the service account. Omitted: the policy's own namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="serviceAccount.namespace must be a namespace name: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Namespace string `json:"namespace,omitempty"`

	// Name of the service account.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="serviceAccount.name must be a service account name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// HTTPRule narrows a policy to HTTP requests. A request matches when its
// method is listed (or no methods are) and its path is under a listed prefix
// (or no prefixes are).
type HTTPRule struct {
	// Methods the request may use, upper case and matched exactly (GET does
	// not match get). Omitted: any method.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Methods []HTTPMethod `json:"methods,omitempty"`

	// PathPrefixes the request's path may start with, matched by whole
	// segments: /api/orders matches /api/orders and /api/orders/7 but not
	// /api/orders-old; /api/orders/ matches only paths below it. Request
	// paths are made canonical before matching, so prefixes must be
	// canonical too. Omitted: any path.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	PathPrefixes []PathPrefix `json:"pathPrefixes,omitempty"`
}

// HTTPMethod is an HTTP request method in upper case, e.g. GET.
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z][A-Z_-]*$')",message="HTTP methods are upper-case tokens such as GET or POST (matched case-sensitively)"
type HTTPMethod string

// PathPrefix is a canonical URL path: it starts with '/', has no query,
// fragment, empty, '.' or '..' segments, and percent-encodes only what must
// be encoded (upper-case hex).
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="path prefixes start with '/', e.g. /api/orders/"
// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="path prefixes match the path only: remove the query (?) or fragment (#)"
// +kubebuilder:validation:XValidation:rule="self.matches('^[!-~]*$') && !self.contains('\\\\')",message="path prefixes hold printable ASCII without spaces or backslashes; percent-encode other bytes"
// +kubebuilder:validation:XValidation:rule="!self.contains('//') && !self.matches('/[.][.]?(/|;|%3[Bb]|$)')",message="path prefixes must be canonical: no empty, '.' or '..' segments (requests are matched after resolving them)"
// +kubebuilder:validation:XValidation:rule="!self.matches('%([^0-9A-F]|.[^0-9A-F]|.?$)')",message="path prefixes percent-encode as %XX with two upper-case hex digits"
// +kubebuilder:validation:XValidation:rule="!self.matches('%([01][0-9A-F]|2[D-F]|3[0-9]|4[1-9A-F]|5[0-9ACF]|6[1-9A-F]|7[0-9AEF])')",message="path prefixes must not percent-encode letters, digits, '-', '.', '_' or '~' (write them as they are), nor '/', '\\' or control characters (ambiguous)"
type PathPrefix string

// +kubebuilder:object:root=true

// AuthorizationPolicyList is a list of AuthorizationPolicy.
type AuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the policies.
	Items []AuthorizationPolicy `json:"items"`
}
