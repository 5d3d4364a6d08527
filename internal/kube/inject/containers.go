package inject

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hopseal/hopseal/internal/apphealth"
)

// initResources are small: init-net installs a few rules and exits.
var initResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
	Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
}

// initContainer runs `hopseal init-net` as root with NET_ADMIN and nothing
// else: nftables speaks netlink, so NET_RAW is not needed.
func initContainer(cfg Config, o podOptions) corev1.Container {
	args := []string{"init-net",
		"--proxy-uid", strconv.Itoa(ProxyUID),
		"--inbound-port", strconv.Itoa(InboundPort),
		"--outbound-port", strconv.Itoa(OutboundPort),
		"--exclude-inbound-ports", joinPorts(append([]uint16{AdminPort}, o.excludeIn...)),
	}
	if len(o.excludeOut) > 0 {
		args = append(args, "--exclude-outbound-ports", joinPorts(o.excludeOut))
	}
	if len(o.excludeCIDRs) > 0 {
		cidrs := make([]string, len(o.excludeCIDRs))
		for i, p := range o.excludeCIDRs {
			cidrs[i] = p.String()
			if p.IsSingleIP() {
				cidrs[i] = p.Addr().String()
			}
		}
		args = append(args, "--exclude-outbound-cidrs", strings.Join(cidrs, ","))
	}
	return corev1.Container{
		Name:            InitName,
		Image:           cfg.Image,
		ImagePullPolicy: cfg.ImagePullPolicy,
		Args:            args,
		Resources:       *initResources.DeepCopy(),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(0)),
			RunAsNonRoot:             ptr(false),
			Privileged:               ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// proxyContainer is the native sidecar: an init container that keeps
// running (restartPolicy Always), started before the app's containers and
// stopped after them.
func proxyContainer(cfg Config, o podOptions, probes apphealth.Probes) (corev1.Container, error) {
	env, err := proxyEnv(cfg, probes)
	if err != nil {
		return corev1.Container{}, err
	}
	return corev1.Container{
		Name:            ProxyName,
		Image:           cfg.Image,
		ImagePullPolicy: cfg.ImagePullPolicy,
		Args:            []string{"proxy", "--kubernetes"},
		RestartPolicy:   ptr(corev1.ContainerRestartPolicyAlways),
		Ports:           []corev1.ContainerPort{{Name: AdminPortName, ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP}},
		Env:             env,
		Resources:       *o.resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: TokenVolume, MountPath: TokenDir, ReadOnly: true},
			{Name: BundleVolume, MountPath: BundleDir, ReadOnly: true},
			{Name: DataVolume, MountPath: DataDir},
		},
		// The startup probe holds the app back until the proxy has its
		// certificate: up to two minutes, checked every second.
		StartupProbe:   adminProbe("/ready", 1, 120),
		ReadinessProbe: adminProbe("/ready", 5, 3),
		LivenessProbe:  adminProbe("/live", 10, 3),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(ProxyUID)),
			RunAsGroup:               ptr(int64(ProxyUID)),
			RunAsNonRoot:             ptr(true),
			Privileged:               ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}, nil
}

func adminProbe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: adminGet(path)},
		PeriodSeconds:    period,
		TimeoutSeconds:   1,
		FailureThreshold: failures,
	}
}

func adminGet(path string) *corev1.HTTPGetAction {
	return &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(AdminPort), Scheme: corev1.URISchemeHTTP}
}

func volumes() []corev1.Volume {
	return []corev1.Volume{
		{Name: TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: TokenAudience, ExpirationSeconds: ptr(int64(TokenExpirySeconds)), Path: TokenFile,
			}}},
		}}},
		{Name: BundleVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: BundleConfigMap},
		}}},
		{Name: DataVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	}
}

// joinPorts writes ports without duplicates, in the order given.
func joinPorts(ports []uint16) string {
	var out []string
	var seen []uint16
	for _, p := range ports {
		if !slices.Contains(seen, p) {
			seen = append(seen, p)
			out = append(out, strconv.Itoa(int(p)))
		}
	}
	return strings.Join(out, ",")
}

func ptr[T any](v T) *T { return &v }
