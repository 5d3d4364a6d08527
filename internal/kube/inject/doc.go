// Package inject adds hopseal's init container and proxy sidecar to pods.
//
// It is pure: Pod takes a pod template and a Config and returns the injected
// template (or the reason it was left alone); the admission webhook
// (internal/kube/webhook) and `hopseal inject` (offline, on YAML files) both
// call it, so a pod injected by one is left alone by the other.
//
// What an injected pod holds (the proxy reads exactly this):
//
//   - init container hopseal-init (first): `hopseal init-net` with the proxy's
//     UID and ports and the pod's exclusions; root with NET_ADMIN only.
//   - native sidecar hopseal-proxy (an init container with restartPolicy
//     Always, right after hopseal-init, so the app's own init containers are
//     already meshed): `hopseal proxy --kubernetes`, UID/GID 1443, non-root,
//     read-only root file system, every capability dropped; admin port 14090
//     (hopseal-admin) with startup, readiness and liveness probes; the pod's
//     name, namespace, IP and service account from the downward API.
//   - volumes hopseal-token (a projected service-account token for audience
//     "hopseal"), hopseal-bundle (ConfigMap hopseal-trust-bundle) and
//     hopseal-data (memory-backed emptyDir), mounted in the proxy only.
//   - the app's httpGet, tcpSocket and grpc probes rewritten to
//     /app-health/<container>/<kind> on port 14090, with the originals in the
//     proxy's HOPSEAL_APP_PROBES (see package apphealth). Probes aimed at
//     another host (httpGet.host, tcpSocket.host) and exec probes are kept.
//   - annotation hopseal.io/injected: <hopseal version>.
//
// Pod annotations (namespace label hopseal.io/inject=enabled opts a
// namespace in; the pod annotation wins over it):
//
//	hopseal.io/inject                 enabled | disabled
//	hopseal.io/exclude-inbound-ports  ports peers reach directly, e.g. "22,8081"
//	hopseal.io/exclude-outbound-ports destination ports the app reaches directly, e.g. "5432"
//	hopseal.io/exclude-outbound-cidrs addresses and networks reached directly, e.g. "169.254.169.254,10.0.0.0/8"
//	hopseal.io/proxy-cpu-request      the proxy's CPU request, e.g. "100m"
//	hopseal.io/proxy-memory-request   the proxy's memory request, e.g. "64Mi"
//	hopseal.io/proxy-cpu-limit        the proxy's CPU limit (none by default)
//	hopseal.io/proxy-memory-limit     the proxy's memory limit
//
// A bad value is an *AnnotationError naming the annotation, the value and the
// fix; the webhook refuses the pod with it.
//
// Left alone: pods with hopseal.io/inject: disabled, pods already injected
// (annotation hopseal.io/injected or a hopseal-* container), pods with
// hostNetwork and Windows pods.
package inject
