package attest

// TypeK8sPSAT attests a workload on Kubernetes by its projected
// service-account token: the CA asks the API server (TokenReview) who the
// token belongs to, and grants spiffe://<td>/ns/<namespace>/sa/<account>.
const TypeK8sPSAT = "k8s_psat"

// DefaultAudience is the audience a token must be issued for: a token for
// any other service (the API server's own, a vault's) is never accepted.
const DefaultAudience = "hopseal"

// MaxTokenSize caps the payload before it is sent to the API server; real
// projected tokens are one or two kilobytes.
const MaxTokenSize = 16 << 10
