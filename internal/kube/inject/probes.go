package inject

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hopseal/hopseal/internal/apphealth"
)

// rewriteProbes points the app containers' httpGet, tcpSocket and grpc
// probes at the proxy's /app-health/<container>/<kind> and returns the
// originals. Native sidecars of the app (init containers with restartPolicy
// Always) have probes too; other init containers cannot.
func rewriteProbes(s *corev1.PodSpec) (apphealth.Probes, error) {
	out := apphealth.Probes{}
	var errs []error
	for _, c := range allContainers(s) {
		for _, slot := range []struct {
			kind  apphealth.Kind
			field string
			probe **corev1.Probe
		}{
			{apphealth.Liveness, "livenessProbe", &c.LivenessProbe},
			{apphealth.Readiness, "readinessProbe", &c.ReadinessProbe},
			{apphealth.Startup, "startupProbe", &c.StartupProbe},
		} {
			if *slot.probe == nil {
				continue
			}
			orig, ok, err := original(c, **slot.probe)
			if err != nil {
				errs = append(errs, fmt.Errorf("container %s %s.%w", c.Name, slot.field, err))
				continue
			}
			if !ok {
				continue
			}
			if out[c.Name] == nil {
				out[c.Name] = map[apphealth.Kind]apphealth.Probe{}
			}
			out[c.Name][slot.kind] = orig
			p := (*slot.probe).DeepCopy()
			p.ProbeHandler = corev1.ProbeHandler{HTTPGet: adminGet(apphealth.PathPrefix + c.Name + "/" + string(slot.kind))}
			*slot.probe = p
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, out.Validate()
}

// original is the probe as the proxy runs it, or false for a probe that
// stays as it is (exec, or aimed at another host).
func original(c *corev1.Container, p corev1.Probe) (apphealth.Probe, bool, error) {
	timeout := p.TimeoutSeconds
	if timeout == 0 {
		timeout = 1 // the kubelet's default
	}
	out := apphealth.Probe{TimeoutSeconds: timeout}
	switch h := p.ProbeHandler; {
	case h.HTTPGet != nil && h.HTTPGet.Host == "":
		port, err := resolvePort(c, h.HTTPGet.Port, "httpGet.port")
		if err != nil {
			return out, false, err
		}
		g := &apphealth.HTTPGet{Scheme: string(h.HTTPGet.Scheme), Path: h.HTTPGet.Path, Port: port}
		if g.Scheme == "" {
			g.Scheme = string(corev1.URISchemeHTTP)
		}
		if g.Path == "" {
			g.Path = "/"
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			g.Headers = append(g.Headers, apphealth.Header{Name: hd.Name, Value: hd.Value})
		}
		out.HTTPGet = g
	case h.TCPSocket != nil && h.TCPSocket.Host == "":
		port, err := resolvePort(c, h.TCPSocket.Port, "tcpSocket.port")
		if err != nil {
			return out, false, err
		}
		out.TCPSocket = &apphealth.TCPSocket{Port: port}
	case h.GRPC != nil:
		port, err := resolvePort(c, intstr.FromInt32(h.GRPC.Port), "grpc.port")
		if err != nil {
			return out, false, err
		}
		out.GRPC = &apphealth.GRPC{Port: port}
		if h.GRPC.Service != nil {
			out.GRPC.Service = *h.GRPC.Service
		}
	default:
		return out, false, nil
	}
	return out, true, nil
}

// resolvePort turns a named port into the container's number for it, as
// the kubelet would.
func resolvePort(c *corev1.Container, p intstr.IntOrString, key string) (uint16, error) {
	if p.Type == intstr.String {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return uint16(cp.ContainerPort), checkProbePort(cp.ContainerPort, key)
			}
		}
		return 0, fmt.Errorf("%s: the container declares no port named %q: declare it under ports or give the number", key, p.StrVal)
	}
	return uint16(p.IntVal), checkProbePort(p.IntVal, key)
}

func checkProbePort(n int32, key string) error {
	if n < 1 || n > 65535 {
		return fmt.Errorf("%s: %d is not a port: use 1 to 65535", key, n)
	}
	return nil
}

// probesJSON is deterministic: encoding/json sorts map keys.
func probesJSON(p apphealth.Probes) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", apphealth.EnvVar, err)
	}
	return string(b), nil
}
