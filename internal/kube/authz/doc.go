// Package authz translates hopseal.io AuthorizationPolicy and MTLSPolicy
// objects into what one workload's proxy enforces: a compiled policy and an
// mTLS mode. It is pure; the controller lists the objects and calls
// ForWorkload for each workload.
//
// Semantics (the CRDs' descriptions say the same to users):
//   - A workload selected by no AuthorizationPolicy of its namespace admits
//     any peer of the mesh's trust domain (rule DefaultRule), and plaintext
//     peers too when its mode is permissive.
//   - A workload selected by at least one refuses everything the selecting
//     policies do not allow. Each policy becomes one rule named
//     <namespace>/<name>, so decisions name the object that made them.
//   - A serviceAccount peer is the SPIFFE ID
//     spiffe://<trust domain>/ns/<namespace>/sa/<name>.
//   - MTLSPolicy: one with a selector beats the namespace-wide one; none
//     means strict. When policies of the same level disagree, strict wins.
//
// Objects the API server admitted but that cannot be applied as written
// (stored before a validation rule existed, say) fail closed: an
// AuthorizationPolicy still selects its workloads but allows nothing, and
// each such object is reported as a Problem for its status.
package authz
