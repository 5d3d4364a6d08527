package inject

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/netfilter"
)

// The injected pod contract's fixed names, ports and paths.
const (
	InitName  = "hopseal-init"
	ProxyName = "hopseal-proxy"

	ProxyUID      = netfilter.DefaultProxyUID
	InboundPort   = netfilter.DefaultInboundPort
	OutboundPort  = netfilter.DefaultOutboundPort
	AdminPort     = 14090
	AdminPortName = "hopseal-admin"

	TokenVolume  = "hopseal-token"
	BundleVolume = "hopseal-bundle"
	DataVolume   = "hopseal-data"
	TokenDir     = "/var/run/hopseal/token"
	BundleDir    = "/var/run/hopseal/bundle"
	DataDir      = "/var/run/hopseal/data"
	TokenFile    = "token"

	// TokenAudience is the audience the CA's k8s_psat attestor accepts.
	TokenAudience      = "hopseal"
	TokenExpirySeconds = 3600
	// BundleConfigMap is kept by the controller in every injected namespace.
	BundleConfigMap = "hopseal-trust-bundle"

	DefaultTrustDomain = "cluster.local"
	DefaultController  = "hopseal-controller.hopseal-system.svc:8443"
)

// Config is what every injected pod shares. Use Defaults, then change fields.
type Config struct {
	Image           string            // the hopseal image for both containers
	ImagePullPolicy corev1.PullPolicy // Always, IfNotPresent or Never
	TrustDomain     string            // HOPSEAL_TRUST_DOMAIN
	Controller      string            // host:port of the controller's gRPC service, HOPSEAL_CONTROLLER
	Version         string            // written to the hopseal.io/injected annotation
	// ProxyResources are the proxy's requests and limits unless a pod's
	// annotations change them. No CPU limit by default: throttling a proxy
	// adds latency to every request of the app.
	ProxyResources corev1.ResourceRequirements
}

// Defaults is the Config for this hopseal version.
func Defaults(version string) Config {
	return Config{
		Image:           "hopseal/proxy:" + version,
		ImagePullPolicy: corev1.PullIfNotPresent,
		TrustDomain:     DefaultTrustDomain,
		Controller:      DefaultController,
		Version:         version,
		ProxyResources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("20m"),
				corev1.ResourceMemory: resource.MustParse("48Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
	}
}

// Validate reports every problem at once, each under the name of the
// `hopseal inject` flag that sets it. It never changes c.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Image == "" {
		add("image is empty: name the hopseal image, e.g. hopseal/hopseal:%s", c.versionOr("v0.1.0"))
	}
	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		add("image-pull-policy %q is not one of Always, IfNotPresent and Never", c.ImagePullPolicy)
	}
	if _, err := identity.ParseTrustDomain(c.TrustDomain); err != nil {
		add("trust-domain: %v", err)
	}
	if host, port, err := net.SplitHostPort(c.Controller); err != nil || host == "" || !validPort(port) {
		add("controller %q is not host:port: use e.g. %s", c.Controller, DefaultController)
	}
	if c.Version == "" {
		add("version is empty: it marks injected pods (annotation %s)", AnnotationInjected)
	}
	if err := checkResources(c.ProxyResources, "proxy-"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) versionOr(fallback string) string {
	if c.Version != "" {
		return c.Version
	}
	return fallback
}

func validPort(s string) bool {
	n, err := strconv.ParseUint(s, 10, 16)
	return err == nil && n > 0
}

// checkResources checks that no request exceeds its limit; names are the
// flags or annotations with prefix, e.g. proxy-cpu-request.
func checkResources(r corev1.ResourceRequirements, prefix string) error {
	var errs []error
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		for _, q := range []struct {
			kind string
			v    resource.Quantity
			set  bool
		}{{"request", req, hasReq}, {"limit", lim, hasLim}} {
			if q.set && q.v.Sign() < 0 {
				errs = append(errs, fmt.Errorf("%s%s-%s %s is negative", prefix, name, q.kind, q.v.String()))
			}
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s%s-request %s is more than %s%s-limit %s: raise the limit or lower the request",
				prefix, name, req.String(), prefix, name, lim.String()))
		}
	}
	return errors.Join(errs...)
}
