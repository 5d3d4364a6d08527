package inject

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/hopseal/hopseal/internal/apphealth"
)

// Outcome is what Pod did.
type Outcome struct {
	Injected bool
	Reason   string   // why the pod was left alone; empty when injected
	Already  bool     // left alone because it was injected before
	Warnings []string // worth telling the pod's author, e.g. an unknown annotation
}

// Pod injects a pod template (a Pod's metadata and spec, or a workload's
// template). It returns a new template and leaves t as it was; a template
// left alone is returned as t itself, with the reason. Errors name the
// annotation or container at fault and the fix; Pod(Pod(t)) equals Pod(t).
func Pod(cfg Config, t *corev1.PodTemplateSpec) (*corev1.PodTemplateSpec, Outcome, error) {
	if reason, already := leftAlone(t); reason != "" {
		return t, Outcome{Reason: reason, Already: already}, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, Outcome{}, fmt.Errorf("injector configuration: %w", err)
	}
	opts, err := parseAnnotations(cfg, t.Annotations)
	if err != nil {
		return nil, Outcome{}, err
	}
	if err := conflicts(&t.Spec); err != nil {
		return nil, Outcome{}, err
	}
	out := t.DeepCopy()
	probes, err := rewriteProbes(&out.Spec)
	if err != nil {
		return nil, Outcome{}, err
	}
	proxy, err := proxyContainer(cfg, opts, probes)
	if err != nil {
		return nil, Outcome{}, err
	}
	out.Spec.InitContainers = append([]corev1.Container{initContainer(cfg, opts), proxy}, out.Spec.InitContainers...)
	out.Spec.Volumes = append(out.Spec.Volumes, volumes()...)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationInjected] = cfg.Version
	return out, Outcome{Injected: true, Warnings: opts.warnings}, nil
}

// conflicts reports what in the pod would break the proxy or escape it.
func conflicts(s *corev1.PodSpec) error {
	var errs []error
	for _, c := range allContainers(s) {
		for _, p := range c.Ports {
			switch p.ContainerPort {
			case InboundPort, OutboundPort, AdminPort:
				errs = append(errs, fmt.Errorf("container %s declares port %d, which the hopseal proxy listens on (%d inbound, %d outbound, %d admin): move the app to another port, or annotate the pod %s: %s",
					c.Name, p.ContainerPort, InboundPort, OutboundPort, AdminPort, AnnotationInject, Disabled))
			}
		}
		if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == ProxyUID {
			errs = append(errs, uidError("container "+c.Name+" securityContext.runAsUser"))
		}
	}
	if sc := s.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == ProxyUID {
		errs = append(errs, uidError("the pod's securityContext.runAsUser"))
	}
	for _, v := range s.Volumes {
		if v.Name == TokenVolume || v.Name == BundleVolume || v.Name == DataVolume {
			errs = append(errs, fmt.Errorf("the pod already has a volume named %s, which hopseal adds: rename it", v.Name))
		}
	}
	return errors.Join(errs...)
}

func uidError(where string) error {
	return fmt.Errorf("%s is %d, the hopseal proxy's UID, whose traffic is never intercepted: run the app as another user", where, ProxyUID)
}

// proxyEnv is the proxy's environment: the pod's identity from the downward
// API, where to reach the controller, and the app's original probes.
func proxyEnv(cfg Config, probes apphealth.Probes) ([]corev1.EnvVar, error) {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		field("HOPSEAL_POD_NAME", "metadata.name"),
		field("HOPSEAL_POD_NAMESPACE", "metadata.namespace"),
		field("HOPSEAL_POD_IP", "status.podIP"),
		field("HOPSEAL_SERVICE_ACCOUNT", "spec.serviceAccountName"),
		{Name: "HOPSEAL_CONTROLLER", Value: cfg.Controller},
		{Name: "HOPSEAL_TRUST_DOMAIN", Value: cfg.TrustDomain},
	}
	if len(probes) > 0 {
		js, err := probesJSON(probes)
		if err != nil {
			return nil, err
		}
		env = append(env, corev1.EnvVar{Name: apphealth.EnvVar, Value: js})
	}
	return env, nil
}
