// Package apphealth answers the kubelet's probes of an injected pod's apps.
//
// Interception would send the kubelet's probes of the app's ports to the
// proxy's inbound listener, which wants mutual TLS, so the injector rewrites
// each httpGet, tcpSocket and grpc probe into an httpGet on the proxy's admin
// port at /app-health/<container>/<liveness|readiness|startup> and records the
// original probe in the proxy's HOPSEAL_APP_PROBES variable. The Handler here
// runs that original probe against the app over loopback (never intercepted)
// and answers 200 when it passes, 503 when it fails. So an app must listen
// on loopback too (0.0.0.0 does) for its probes to pass.
//
// This package is part of the data plane: it never imports client-go.
package apphealth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// EnvVar holds the JSON of Probes in the proxy container.
const EnvVar = "HOPSEAL_APP_PROBES"

// PathPrefix starts every rewritten probe's path: PathPrefix + container + "/" + kind.
const PathPrefix = "/app-health/"

// maxJSON caps the variable's size (a pod's whole spec is smaller).
const maxJSON = 1 << 20

// maxTimeoutSeconds caps a probe's timeout: a probe that waits longer is a
// mistake, and each waiting probe holds a connection.
const maxTimeoutSeconds = 300

// Kind is the kubelet probe a rewritten probe stands for.
type Kind string

// The kinds, as they appear in the rewritten path.
const (
	Liveness  Kind = "liveness"
	Readiness Kind = "readiness"
	Startup   Kind = "startup"
)

// Kinds are the valid kinds in path order.
var Kinds = []Kind{Liveness, Readiness, Startup}

// Probes are the original probes by container name, then kind.
type Probes map[string]map[Kind]Probe

// Probe is one original kubelet probe: exactly one of HTTPGet, TCPSocket and
// GRPC, aimed at 127.0.0.1 (named ports are resolved when injecting).
type Probe struct {
	HTTPGet        *HTTPGet   `json:"httpGet,omitempty"`
	TCPSocket      *TCPSocket `json:"tcpSocket,omitempty"`
	GRPC           *GRPC      `json:"grpc,omitempty"`
	TimeoutSeconds int32      `json:"timeoutSeconds"`
}

// HTTPGet is an HTTP(S) GET that passes with a status from 200 to 399.
type HTTPGet struct {
	Scheme  string   `json:"scheme"` // HTTP or HTTPS
	Path    string   `json:"path"`   // may carry a query
	Port    uint16   `json:"port"`
	Headers []Header `json:"headers,omitempty"`
}

// Header is a request header of an HTTPGet probe.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocket passes when a TCP connection opens.
type TCPSocket struct {
	Port uint16 `json:"port"`
}

// GRPC passes when grpc.health.v1.Health/Check answers SERVING.
type GRPC struct {
	Port    uint16 `json:"port"`
	Service string `json:"service,omitempty"`
}

// Parse reads and checks the JSON of Probes. Errors name the key path.
func Parse(data []byte) (Probes, error) {
	if len(data) > maxJSON {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d allowed", EnvVar, len(data), maxJSON)
	}
	var p Probes
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w (the injector writes this variable: re-create the pod to get a fresh one)", EnvVar, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: text after the JSON object (the injector writes this variable: re-create the pod)", EnvVar)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate reports every problem at once, each under its key path.
func (p Probes) Validate() error {
	var errs []error
	for _, c := range sortedKeys(p) {
		if c == "" || strings.Contains(c, "/") {
			errs = append(errs, fmt.Errorf("%s: container name %q is not a name: use the pod's container names", EnvVar, c))
		}
		for _, k := range sortedKeys(p[c]) {
			if !slices.Contains(Kinds, k) {
				errs = append(errs, fmt.Errorf("%s: %s.%s: unknown probe kind: use liveness, readiness or startup", EnvVar, c, k))
				continue
			}
			if err := p[c][k].validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s.%s.%w", EnvVar, c, k, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (p Probe) validate() error {
	n := 0
	for _, set := range []bool{p.HTTPGet != nil, p.TCPSocket != nil, p.GRPC != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("handler: %d of httpGet, tcpSocket and grpc are set: set exactly one", n)
	}
	if p.TimeoutSeconds < 1 || p.TimeoutSeconds > maxTimeoutSeconds {
		return fmt.Errorf("timeoutSeconds: %d is out of range: use 1 to %d", p.TimeoutSeconds, maxTimeoutSeconds)
	}
	switch {
	case p.HTTPGet != nil:
		return p.HTTPGet.validate()
	case p.TCPSocket != nil:
		return checkPort("tcpSocket.port", p.TCPSocket.Port)
	default:
		return checkPort("grpc.port", p.GRPC.Port)
	}
}

func (h *HTTPGet) validate() error {
	if h.Scheme != "HTTP" && h.Scheme != "HTTPS" {
		return fmt.Errorf("httpGet.scheme: %q is not HTTP or HTTPS", h.Scheme)
	}
	if err := checkPort("httpGet.port", h.Port); err != nil {
		return err
	}
	if u, err := url.Parse(h.Path); err != nil || !strings.HasPrefix(h.Path, "/") || u.Host != "" {
		return fmt.Errorf("httpGet.path: %q is not an absolute path such as /healthz", h.Path)
	}
	for i, hd := range h.Headers {
		if !httpguts.ValidHeaderFieldName(hd.Name) || !httpguts.ValidHeaderFieldValue(hd.Value) {
			return fmt.Errorf("httpGet.headers[%d]: %q: %q is not a valid HTTP header", i, hd.Name, hd.Value)
		}
	}
	return nil
}

func checkPort(key string, port uint16) error {
	if port == 0 {
		return fmt.Errorf("%s: 0 is not a port: use 1 to 65535", key)
	}
	return nil
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
