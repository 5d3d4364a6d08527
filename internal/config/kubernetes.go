package config

import (
	"fmt"
	"strings"
)

// What the sidecar injector gives the proxy container: environment
// variables from the downward API and files from its volumes.
const (
	EnvPodName        = "HOPSEAL_POD_NAME"
	EnvPodNamespace   = "HOPSEAL_POD_NAMESPACE"
	EnvServiceAccount = "HOPSEAL_SERVICE_ACCOUNT"
	EnvController     = "HOPSEAL_CONTROLLER"
	EnvTrustDomain    = "HOPSEAL_TRUST_DOMAIN"

	KubeTokenFile  = "/var/run/hopseal/token/token"
	KubeBundleFile = "/var/run/hopseal/bundle/bundle.pem"
	KubeDataDir    = "/var/run/hopseal/data"
	KubeAdminPort  = 14090
)

// FromKubernetesEnv builds the configuration of an injected sidecar
// (`hopseal proxy --kubernetes`) from its environment: attestation with the
// projected service-account token, transparent mode with the defaults
// init-net uses, and policy, discovery and mode from the controller.
func FromKubernetesEnv(getenv func(string) string) (*Proxy, error) {
	var missing []string
	get := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	ns, pod, sa := get(EnvPodNamespace), get(EnvPodName), get(EnvServiceAccount)
	controller, td := get(EnvController), get(EnvTrustDomain)
	if len(missing) > 0 {
		return nil, fmt.Errorf("--kubernetes: %s not set; the sidecar injector sets them (is this container injected by hopseal?)", strings.Join(missing, ", "))
	}
	f := ProxyFile{
		SPIFFEID: fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", td, ns, sa),
		CA:       CAFile{Address: controller, BundleFile: KubeBundleFile, TokenFile: KubeTokenFile},
		DataDir:  KubeDataDir,
		Admin:    AdminFile{Listen: fmt.Sprintf(":%d", KubeAdminPort)},
		// The mode comes from the controller; until then, strict.
		Transparent:  &TransparentFile{},
		ControlPlane: &ControlPlaneFile{Address: controller, Namespace: ns, Pod: pod},
	}
	p, err := f.Validate()
	if err != nil {
		return nil, fmt.Errorf("--kubernetes: from %s, %s, %s, %s and %s: %w", EnvTrustDomain, EnvPodNamespace, EnvServiceAccount, EnvPodName, EnvController, err)
	}
	return p, nil
}
