package inject

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hopseal/hopseal/internal/apphealth"
)

// baseline is a valid pod with an httpGet probe on a named port.
func baseline() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "shop/web:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}},
				PeriodSeconds: 7,
			},
		}}},
	}
}

func mustInject(t *testing.T, in *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	t.Helper()
	out, o, err := Pod(testConfig(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Injected {
		t.Fatalf("left alone: %s", o.Reason)
	}
	return out
}

func TestPodContract(t *testing.T) {
	out := mustInject(t, baseline())
	s := out.Spec
	if len(s.InitContainers) != 2 || s.InitContainers[0].Name != InitName || s.InitContainers[1].Name != ProxyName {
		t.Fatalf("init containers %v, want hopseal-init then hopseal-proxy", names(s.InitContainers))
	}
	init, proxy := s.InitContainers[0], s.InitContainers[1]
	if init.RestartPolicy != nil {
		t.Errorf("hopseal-init has restartPolicy %v: it must run to completion", *init.RestartPolicy)
	}
	wantArgs := "init-net --proxy-uid 1443 --inbound-port 14006 --outbound-port 14001 --exclude-inbound-ports 14090"
	if got := strings.Join(init.Args, " "); got != wantArgs {
		t.Errorf("hopseal-init args %q, want %q", got, wantArgs)
	}
	isc := init.SecurityContext
	if *isc.RunAsUser != 0 || *isc.RunAsNonRoot || !reflect.DeepEqual(isc.Capabilities.Add, []corev1.Capability{"NET_ADMIN"}) ||
		!reflect.DeepEqual(isc.Capabilities.Drop, []corev1.Capability{"ALL"}) || *isc.Privileged {
		t.Errorf("hopseal-init securityContext %+v", isc)
	}
	if proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("hopseal-proxy is not a native sidecar (restartPolicy %v)", proxy.RestartPolicy)
	}
	if got := strings.Join(proxy.Args, " "); got != "proxy --kubernetes" {
		t.Errorf("hopseal-proxy args %q", got)
	}
	psc := proxy.SecurityContext
	if *psc.RunAsUser != 1443 || *psc.RunAsGroup != 1443 || !*psc.RunAsNonRoot || *psc.AllowPrivilegeEscalation ||
		!*psc.ReadOnlyRootFilesystem || len(psc.Capabilities.Add) != 0 || !reflect.DeepEqual(psc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("hopseal-proxy securityContext %+v", psc)
	}
	if len(proxy.Ports) != 1 || proxy.Ports[0].Name != "hopseal-admin" || proxy.Ports[0].ContainerPort != 14090 {
		t.Errorf("hopseal-proxy ports %+v", proxy.Ports)
	}
	for probe, path := range map[*corev1.Probe]string{proxy.StartupProbe: "/ready", proxy.ReadinessProbe: "/ready", proxy.LivenessProbe: "/live"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.IntValue() != 14090 {
			t.Errorf("hopseal-proxy probe %+v, want httpGet %s on 14090", probe, path)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range proxy.Env {
		env[e.Name] = e
	}
	for name, path := range map[string]string{"HOPSEAL_POD_NAME": "metadata.name", "HOPSEAL_POD_NAMESPACE": "metadata.namespace",
		"HOPSEAL_POD_IP": "status.podIP", "HOPSEAL_SERVICE_ACCOUNT": "spec.serviceAccountName"} {
		if e := env[name]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("%s = %+v, want the downward API's %s", name, e, path)
		}
	}
	if env["HOPSEAL_CONTROLLER"].Value != DefaultController || env["HOPSEAL_TRUST_DOMAIN"].Value != "cluster.local" {
		t.Errorf("controller %q, trust domain %q", env["HOPSEAL_CONTROLLER"].Value, env["HOPSEAL_TRUST_DOMAIN"].Value)
	}
	probes, err := apphealth.Parse([]byte(env[apphealth.EnvVar].Value))
	if err != nil {
		t.Fatal(err)
	}
	want := apphealth.Probe{HTTPGet: &apphealth.HTTPGet{Scheme: "HTTP", Path: "/ready", Port: 8080}, TimeoutSeconds: 1}
	if got := probes["web"][apphealth.Readiness]; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded probe %+v, want %+v (named port resolved)", got, want)
	}
	rp := s.Containers[0].ReadinessProbe
	if rp.HTTPGet.Path != "/app-health/web/readiness" || rp.HTTPGet.Port.IntValue() != 14090 || rp.PeriodSeconds != 7 {
		t.Errorf("app probe rewritten to %+v, want /app-health/web/readiness on 14090 keeping its period", rp)
	}
	checkVolumes(t, s)
	if out.Annotations[AnnotationInjected] != "v0.4.0" {
		t.Errorf("annotations %v", out.Annotations)
	}
}

func checkVolumes(t *testing.T, s corev1.PodSpec) {
	t.Helper()
	if len(s.Volumes) != 3 {
		t.Fatalf("volumes %+v", s.Volumes)
	}
	tok := s.Volumes[0].Projected.Sources[0].ServiceAccountToken
	if s.Volumes[0].Name != TokenVolume || tok.Audience != "hopseal" || *tok.ExpirationSeconds != 3600 || tok.Path != "token" {
		t.Errorf("token volume %+v", s.Volumes[0])
	}
	if s.Volumes[1].ConfigMap == nil || s.Volumes[1].ConfigMap.Name != BundleConfigMap {
		t.Errorf("bundle volume %+v", s.Volumes[1])
	}
	if s.Volumes[2].EmptyDir == nil || s.Volumes[2].EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("data volume %+v", s.Volumes[2])
	}
	mounts := map[string]string{}
	for _, m := range s.InitContainers[1].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts[TokenVolume] != TokenDir || mounts[BundleVolume] != BundleDir || mounts[DataVolume] != DataDir {
		t.Errorf("proxy mounts %v", mounts)
	}
	for _, c := range append(s.Containers, s.InitContainers[0]) {
		if len(c.VolumeMounts) != 0 {
			t.Errorf("container %s mounts %v: only the proxy may read the token", c.Name, c.VolumeMounts)
		}
	}
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestPodIsIdempotentAndPure(t *testing.T) {
	in := baseline()
	keep := in.DeepCopy()
	once := mustInject(t, in)
	if !reflect.DeepEqual(in, keep) {
		t.Fatal("Pod changed its input")
	}
	twice, o, err := Pod(testConfig(), once)
	if err != nil || o.Injected || !strings.Contains(o.Reason, "already injected") {
		t.Fatalf("second Pod: injected %v, reason %q, err %v", o.Injected, o.Reason, err)
	}
	if twice != once {
		t.Fatal("a template left alone must come back as itself")
	}
}

func TestPodLeftAlone(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*corev1.PodTemplateSpec)
		reason  string
		already bool
	}{
		{"annotation disabled", func(p *corev1.PodTemplateSpec) { p.Annotations = map[string]string{AnnotationInject: Disabled} }, "is disabled", false},
		{"injected annotation", func(p *corev1.PodTemplateSpec) { p.Annotations = map[string]string{AnnotationInjected: "v0.1.0"} },
			`already injected (annotation hopseal.io/injected: "v0.1.0")`, true},
		{"proxy container", func(p *corev1.PodTemplateSpec) {
			p.Spec.InitContainers = []corev1.Container{{Name: ProxyName, Image: "x"}}
		}, "container named hopseal-proxy", true},
		{"hostNetwork", func(p *corev1.PodTemplateSpec) { p.Spec.HostNetwork = true }, "hostNetwork: the pod shares the node's network namespace", false},
		{"windows", func(p *corev1.PodTemplateSpec) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} }, "spec.os.name is windows", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := baseline()
			tc.change(p)
			out, o, err := Pod(testConfig(), p)
			if err != nil || o.Injected || out != p || !strings.Contains(o.Reason, tc.reason) || o.Already != tc.already {
				t.Fatalf("injected %v, same %v, reason %q, already %v, err %v; want left alone because %q (already %v)",
					o.Injected, out == p, o.Reason, o.Already, err, tc.reason, tc.already)
			}
		})
	}
	p := baseline()
	p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
	mustInject(t, p)
}

func TestAnnotationErrors(t *testing.T) {
	cases := []struct {
		annotation, value, want string
	}{
		{AnnotationExcludeInboundPorts, "22,ssh", `"ssh" is not a port`},
		{AnnotationExcludeInboundPorts, "0", `"0" is not a port`},
		{AnnotationExcludeOutboundPorts, "70000", `"70000" is not a port`},
		{AnnotationExcludeOutboundCIDRs, "10.0.0.0/33", "is not a list of addresses and networks"},
		{AnnotationExcludeOutboundCIDRs, "0.0.0.0/0", "turns outbound interception off"},
		{AnnotationExcludeOutboundCIDRs, "10.1.2.3/8", "write the network address 10.0.0.0/8"},
		{AnnotationExcludeOutboundCIDRs, "::ffff:10.0.0.0/104", "write IPv4 networks in IPv4 form"},
		{AnnotationProxyCPURequest, "lots", "is not a quantity: write for example 100m"},
		{AnnotationProxyMemoryRequest, "-1Mi", "is not positive"},
		{AnnotationProxyCPULimit, "0", "is not positive"},
		{AnnotationProxyMemoryLimit, "1Gb", "is not a quantity"},
	}
	for _, tc := range cases {
		t.Run(tc.annotation+"="+tc.value, func(t *testing.T) {
			p := baseline()
			p.Annotations = map[string]string{tc.annotation: tc.value}
			_, _, err := Pod(testConfig(), p)
			var ae *AnnotationError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v, want an *AnnotationError", err)
			}
			if ae.Annotation != tc.annotation || ae.Value != tc.value || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q (annotation %s, value %q), want one about %s %q saying %q", err, ae.Annotation, ae.Value, tc.annotation, tc.value, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "annotation "+tc.annotation+": ") {
				t.Errorf("error %q does not start with the annotation", err)
			}
		})
	}
}

func TestAnnotationsApply(t *testing.T) {
	p := baseline()
	p.Annotations = map[string]string{
		AnnotationExcludeInboundPorts: "9100, 14090", AnnotationExcludeOutboundPorts: "5432",
		AnnotationExcludeOutboundCIDRs: "169.254.169.254,fd00::/8", AnnotationProxyMemoryRequest: "100Mi", AnnotationProxyCPULimit: "2",
	}
	out := mustInject(t, p)
	want := "--exclude-inbound-ports 14090,9100 --exclude-outbound-ports 5432 --exclude-outbound-cidrs 169.254.169.254,fd00::/8"
	if args := strings.Join(out.Spec.InitContainers[0].Args, " "); !strings.HasSuffix(args, want) {
		t.Errorf("init args %q, want them to end %q", args, want)
	}
	r := out.Spec.InitContainers[1].Resources
	if !r.Requests.Memory().Equal(resource.MustParse("100Mi")) || !r.Limits.Cpu().Equal(resource.MustParse("2")) ||
		!r.Requests.Cpu().Equal(resource.MustParse("20m")) || !r.Limits.Memory().Equal(resource.MustParse("256Mi")) {
		t.Errorf("proxy resources %+v, want annotations over defaults", r)
	}
	p.Annotations = map[string]string{AnnotationProxyMemoryRequest: "1Gi"}
	if _, _, err := Pod(testConfig(), p); err == nil || !strings.Contains(err.Error(), "memory-request 1Gi is more than hopseal.io/proxy-memory-limit 256Mi") {
		t.Errorf("request over the limit: %v", err)
	}
}

func TestPodConflicts(t *testing.T) {
	uid := func(v int64) *int64 { return &v }
	cases := []struct {
		name   string
		change func(*corev1.PodTemplateSpec)
		want   string
	}{
		{"admin port", func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 14090})
		}, "container web declares port 14090"},
		{"inbound port", func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 14006})
		}, "declares port 14006"},
		{"container as the proxy UID", func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: uid(1443)}
		}, "container web securityContext.runAsUser is 1443"},
		{"pod as the proxy UID", func(p *corev1.PodTemplateSpec) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: uid(1443)}
		}, "the pod's securityContext.runAsUser is 1443"},
		{"volume name", func(p *corev1.PodTemplateSpec) {
			p.Spec.Volumes = []corev1.Volume{{Name: DataVolume}}
		}, "volume named hopseal-data"},
		{"probe on an undeclared named port", func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromString("web")
		}, `container web readinessProbe.httpGet.port: the container declares no port named "web"`},
		{"probe on port 0", func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(0)}}}
		}, "container web livenessProbe.tcpSocket.port: 0 is not a port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := baseline()
			tc.change(p)
			if _, _, err := Pod(testConfig(), p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWanted(t *testing.T) {
	on := map[string]string{LabelInject: Enabled}
	cases := []struct {
		name        string
		labels, ann map[string]string
		want        bool
		reason, err string
	}{
		{"labelled namespace", on, nil, true, "namespace label", ""},
		{"unlabelled namespace", nil, nil, false, "not labelled hopseal.io/inject=enabled", ""},
		{"namespace label disabled", map[string]string{LabelInject: Disabled}, nil, false, "not labelled", ""},
		{"pod opts in", nil, map[string]string{AnnotationInject: Enabled}, true, "pod annotation", ""},
		{"pod opts out", on, map[string]string{AnnotationInject: Disabled}, false, "is disabled", ""},
		{"bad annotation", on, map[string]string{AnnotationInject: "true"}, false, "", `annotation hopseal.io/inject: "true" is not enabled or disabled`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, err := Wanted(tc.labels, tc.ann)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || !strings.Contains(reason, tc.reason) {
				t.Fatalf("Wanted = %v, %q, %v; want %v and a reason with %q", got, reason, err, tc.want, tc.reason)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no image", func(c *Config) { c.Image = "" }, "image is empty"},
		{"pull policy", func(c *Config) { c.ImagePullPolicy = "Sometimes" }, `image-pull-policy "Sometimes"`},
		{"trust domain", func(c *Config) { c.TrustDomain = "Cluster.Local" }, "trust-domain"},
		{"controller without port", func(c *Config) { c.Controller = "hopseal-controller" }, `controller "hopseal-controller" is not host:port`},
		{"no version", func(c *Config) { c.Version = "" }, "version is empty"},
		{"request over limit", func(c *Config) {
			c.ProxyResources.Requests[corev1.ResourceMemory] = resource.MustParse("1Gi")
		}, "proxy-memory-request 1Gi is more than proxy-memory-limit 256Mi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
			if tc.want != "" {
				if _, _, err := Pod(c, baseline()); err == nil || !strings.Contains(err.Error(), "injector configuration") {
					t.Errorf("Pod with a bad config: %v", err)
				}
			}
		})
	}
}

func TestProbesKeptAsTheyAre(t *testing.T) {
	p := baseline()
	c := &p.Spec.Containers[0]
	c.ReadinessProbe.HTTPGet.Host = "10.0.0.9"
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	out := mustInject(t, p)
	if !reflect.DeepEqual(out.Spec.Containers[0], *c) {
		t.Errorf("probes aimed at another host or running a command changed: %+v", out.Spec.Containers[0])
	}
	if slices.ContainsFunc(out.Spec.InitContainers[1].Env, func(e corev1.EnvVar) bool { return e.Name == apphealth.EnvVar }) {
		t.Error("HOPSEAL_APP_PROBES set with no rewritten probes")
	}
}

func TestUnknownAnnotationWarns(t *testing.T) {
	p := baseline()
	p.Annotations = map[string]string{"hopseal.io/exclude-inbound-port": "22", "example.com/other": "x"}
	_, o, err := Pod(testConfig(), p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"annotation hopseal.io/exclude-inbound-port is not one hopseal reads: did you mean hopseal.io/exclude-inbound-ports?"}
	if !reflect.DeepEqual(o.Warnings, want) {
		t.Fatalf("warnings %q, want %q", o.Warnings, want)
	}
}

// The recorded probes use the JSON names the proxy reads.
func TestProbesJSONShape(t *testing.T) {
	p := baseline()
	p.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}, TimeoutSeconds: 4}
	out := mustInject(t, p)
	var raw map[string]map[string]map[string]any
	for _, e := range out.Spec.InitContainers[1].Env {
		if e.Name == apphealth.EnvVar {
			if err := json.Unmarshal([]byte(e.Value), &raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	if g, ok := raw["web"]["startup"]["grpc"].(map[string]any); !ok || g["port"] != float64(9090) || raw["web"]["startup"]["timeoutSeconds"] != float64(4) {
		t.Fatalf("HOPSEAL_APP_PROBES %v", raw)
	}
}
