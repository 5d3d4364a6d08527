package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hopseal/hopseal/internal/yamlfile"
)

// What a gateway runs with when the controller configures it from Gateway
// API resources (`hopseal gateway --control-plane` on Kubernetes): its
// identity from the pod's environment and volumes, as an injected proxy's,
// and its listeners from the controller's stream.

// CertPEM is a certificate held in memory instead of files.
type CertPEM struct {
	Name  string // where it came from (a Secret's namespace/name), for logs and status
	Chain []byte // PEM, leaf first
	Key   []byte // PEM; never logged
}

// GatewayControlPlane is a gateway configured by the controller.
type GatewayControlPlane struct {
	Identity
	AdminListen string
	Controller  string // the controller's gRPC address
	Namespace   string // the pod's
	Pod         string
	// Gateway is the Gateway to serve, "namespace/name"; "": the one the
	// pod's gateway.networking.k8s.io/gateway-name label names.
	Gateway string
}

// GatewayFromKubernetesEnv builds a gateway's configuration from the
// environment the chart gives its pod (the variables and volumes the
// injector gives a proxy). gateway is the --gateway flag ("" or
// "namespace/name"), adminListen the admin address.
func GatewayFromKubernetesEnv(getenv func(string) string, gateway, adminListen string) (*GatewayControlPlane, error) {
	var missing []string
	get := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	ns, sa := get(EnvPodNamespace), get(EnvServiceAccount)
	controller, td := get(EnvController), get(EnvTrustDomain)
	pod := strings.TrimSpace(getenv(EnvPodName))
	if gateway == "" && pod == "" {
		missing = append(missing, EnvPodName+" (or --gateway)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("--control-plane: %s not set; the chart's gateway Deployment sets them from the downward API", strings.Join(missing, ", "))
	}
	errs := yamlfile.Problems{Title: "--control-plane: invalid gateway environment"}
	id := validateIdentity(&errs, fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", td, ns, sa), "",
		CAFile{Address: controller, BundleFile: KubeBundleFile, TokenFile: KubeTokenFile}, KubeDataDir)
	if adminListen != "" {
		checkAddr(&errs, "--admin-listen", adminListen, false)
	}
	if gateway != "" {
		gwNS, name, ok := strings.Cut(gateway, "/")
		switch {
		case !ok || !dnsLabel.MatchString(gwNS) || !dnsSubdomain.MatchString(name):
			errs.Add("--gateway", gateway, "is not namespace/name of a Gateway")
		case gwNS != ns:
			errs.Add("--gateway", gateway, "is in namespace %s, but the gateway runs in %s; the controller serves a gateway only its own namespace's Gateways", gwNS, ns)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &GatewayControlPlane{Identity: id, AdminListen: adminListen, Controller: controller, Namespace: ns, Pod: pod, Gateway: gateway}, nil
}

// ValidateStreamed checks listeners from the controller's stream as
// strictly as the file's and attaches the certificates their routes name:
// a route's tls.cert_file and tls.key_file hold a key of certs. A backend
// marked Unresolved becomes a Backend without an address, and a TLS
// listener may have no routes yet (its connections are refused by SNI).
func ValidateStreamed(lfs []StreamedListener, certs map[string]CertPEM) ([]GatewayListener, error) {
	errs := yamlfile.Problems{Title: "invalid gateway configuration from the controller"}
	names, listens := uniqueSet{}, uniqueSet{}
	var out []GatewayListener
	for i, sl := range lfs {
		at := fmt.Sprintf("listeners[%d]", i)
		lf := sl.File
		var l GatewayListener
		if len(lf.Routes) == 0 && lf.RedirectHTTPS == nil {
			checkAddr(&errs, at+".listen", lf.Listen, false)
			l = GatewayListener{Name: lf.Name, Listen: lf.Listen, ProxyProtocol: lf.ProxyProtocol}
		} else {
			for j := range lf.Routes {
				markUnresolved(&lf.Routes[j], sl.Unresolved[j])
			}
			l = lf.validate(&errs, at)
		}
		if lf.ClientCAFile != "" {
			errs.Add(at+".client_ca_file", lf.ClientCAFile, "is a file of this machine; the controller never streams one")
		}
		names.add(&errs, at+".name", "name", l.Name)
		listens.listen(&errs, at+".listen", lf.Listen)
		for j := range l.Routes {
			attachCert(&errs, fmt.Sprintf("%s.routes[%d]", at, j), &l.Routes[j], certs)
		}
		out = append(out, l)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// StreamedListener is a listener in the file's shape, with the indexes of
// each route's backends that did not resolve.
type StreamedListener struct {
	File       GatewayListenerFile
	Unresolved map[int][]int // route index → backend indexes (terminate) or [0] (passthrough)
}

func markUnresolved(rf *RouteFile, idx []int) {
	for _, i := range idx {
		switch {
		case rf.Backend != nil && i == 0:
			b := *rf.Backend
			b.unresolved = true
			rf.Backend = &b
		case i >= 0 && i < len(rf.Backends):
			rf.Backends = append([]BackendFile(nil), rf.Backends...)
			rf.Backends[i].unresolved = true
		}
	}
}

func attachCert(errs *yamlfile.Problems, at string, r *Route, certs map[string]CertPEM) {
	switch r.Mode {
	case Passthrough:
		return
	case Reencrypt:
		errs.Add(at+".mode", r.Mode, "is not configured by the controller: it has no backend CA to verify against")
		return
	}
	if r.CertFile != r.KeyFile {
		errs.Add(at+".tls", r.CertFile, "names the certificate %q and the key %q; the controller names one pair", r.CertFile, r.KeyFile)
		return
	}
	c, ok := certs[r.CertFile]
	if !ok {
		errs.Add(at+".tls", r.CertFile, "names a certificate the configuration does not carry")
		return
	}
	r.Cert, r.CertFile, r.KeyFile = &c, "", ""
}

// CheckRouteHostname says why a gateway cannot route by h (lowercase), or
// returns nil: the rule of a route's hostname in the file.
func CheckRouteHostname(h string) error {
	errs := yamlfile.Problems{}
	checkHostname(&errs, "hostname", h)
	if err := errs.Err(); err != nil {
		_, msg, _ := strings.Cut(err.Error(), "- hostname: ")
		return errors.New(msg)
	}
	return nil
}

// ListenAddr is a gateway listener's address for a port on every interface.
func ListenAddr(port int) string { return ":" + strconv.Itoa(port) }
