// Package mesh is the controller's side of the stream to proxies: it
// follows the cluster's Pods, Services, EndpointSlices and hopseal
// policies, compiles each proxy's view (where the meshed workloads are,
// and the calling workload's inbound policy and mTLS mode) and streams it
// over gRPC (api/mesh/v1). Proxies do not watch the API server themselves.
package mesh
