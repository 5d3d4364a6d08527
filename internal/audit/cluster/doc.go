// Package cluster is `hopseal audit cluster`: configuration evidence that
// every hop of a Kubernetes cluster is encrypted, and the places where it
// is not.
//
// Gather lists what the checks read (namespaces, pods, Services, Ingresses,
// NetworkPolicies, MTLSPolicies, nodes, hopseal's CA Secrets and trust
// bundles) into a Snapshot; Scan runs the checks, each a pure function of
// the snapshot, and returns findings and Data for an audit.Evidence of kind
// "cluster". Private keys are never kept: Gather drops them as it reads
// the Secrets, and only their locations reach the inventory.
//
// The checks, by the rule of their findings:
//
//   - Exposure: cluster/lb-tls-terminated, cluster/lb-plaintext,
//     cluster/lb-backend-unknown (LoadBalancer Services, from the AWS
//     annotations and the ports' appProtocol, names and numbers);
//     cluster/ingress-tls-terminated, cluster/ingress-plaintext,
//     cluster/ingress-backend-unknown (the ALB and ingress-nginx
//     backend-protocol annotations, else the backend Service's port). A
//     backend whose pods all refuse plaintext (hopseal proxy, strict mode,
//     port not excluded) softens the finding.
//   - Mesh coverage, decided as hopseal check decides it:
//     cluster/namespace-not-meshed, cluster/pod-missing-proxy,
//     cluster/pod-opted-out, cluster/host-network, cluster/permissive-mode
//     (MTLSPolicy, with authz's precedence), cluster/interception-excluded
//     (hopseal.io/exclude-* annotations), cluster/system-namespace (Info).
//   - NetworkPolicy posture: cluster/no-default-deny-ingress,
//     cluster/no-default-deny-egress, cluster/egress-deny-without-dns,
//     cluster/netpol-allow-all; and the reachability matrix between
//     namespaces (Policies, Reachability) in Data.
//   - Trust: cluster/ca-missing, cluster/cert-unreadable,
//     cluster/cert-expired, cluster/cert-not-yet-valid,
//     cluster/cert-expiring, cluster/cert-weak-crypto,
//     cluster/ca-chain-broken, cluster/trust-bundle-stale,
//     cluster/leaf-lifetime, and cluster/trust-inventory (Info: every
//     trusted certificate and key, PCI DSS 4.0 4.2.1.1).
//   - Nodes: cluster/node-hardware-encryption (Info: node pairs with and
//     without EC2 hardware encryption in transit, from nitro.yaml) and
//     cluster/unmeshed-pod-unencrypted-node.
package cluster
