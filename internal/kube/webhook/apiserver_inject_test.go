package webhook

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/apphealth"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

func clientConfigURL(url string, caBundle []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
}

// TestInjectionThroughTheAPIServer registers the webhook with a real
// kube-apiserver and checks what it stores for each kind of pod.
func TestInjectionThroughTheAPIServer(t *testing.T) {
	c := startCluster(t)
	meshed := c.namespace(t, map[string]string{inject.LabelInject: inject.Enabled})
	plain := c.namespace(t, nil)
	off := c.namespace(t, map[string]string{inject.LabelInject: inject.Disabled})
	on := map[string]string{inject.AnnotationInject: inject.Enabled}

	t.Run("labelled namespace", func(t *testing.T) {
		checkInjected(t, c.create(t, meshed, pod("web", nil)))
	})
	t.Run("unlabelled namespace", func(t *testing.T) {
		checkUntouched(t, c.create(t, plain, pod("web", nil)))
	})
	t.Run("annotation opts in", func(t *testing.T) {
		checkInjected(t, c.create(t, plain, pod("opted-in", on)))
	})
	t.Run("annotation opts out", func(t *testing.T) {
		checkUntouched(t, c.create(t, meshed, pod("opted-out", map[string]string{inject.AnnotationInject: inject.Disabled})))
	})
	t.Run("namespace labelled disabled is never sent", func(t *testing.T) {
		checkUntouched(t, c.create(t, off, pod("web", on)))
	})
	t.Run("already injected", func(t *testing.T) {
		// Injected offline by an older hopseal: the webhook must not add a second proxy.
		p := pod("pre-injected", nil)
		tmpl, o, err := inject.Pod(inject.Defaults("v0.3.9"), &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec})
		if err != nil || !o.Injected {
			t.Fatalf("offline injection: %v %+v", err, o)
		}
		p.ObjectMeta, p.Spec = tmpl.ObjectMeta, tmpl.Spec
		got := c.create(t, meshed, p)
		if v := got.Annotations[inject.AnnotationInjected]; v != "v0.3.9" || len(got.Spec.InitContainers) != 2 || len(got.Spec.Volumes) != 3 {
			t.Fatalf("stored annotation %q, %d init containers, %d volumes; want the offline injection untouched", v, len(got.Spec.InitContainers), len(got.Spec.Volumes))
		}
		if got.Spec.Containers[0].ReadinessProbe.HTTPGet.Path != "/app-health/web/readiness" {
			t.Errorf("probe %+v", got.Spec.Containers[0].ReadinessProbe)
		}
	})
	t.Run("hostNetwork is left alone with a warning", func(t *testing.T) {
		c.warnings.take()
		p := pod("host", nil)
		p.Spec.HostNetwork = true
		checkUntouched(t, c.create(t, meshed, p))
		if w := strings.Join(c.warnings.take(), "\n"); !strings.Contains(w, "hopseal: pod not injected: hostNetwork") {
			t.Errorf("warnings %q, want one saying why the pod was not injected", w)
		}
	})
	t.Run("bad annotation is denied", func(t *testing.T) {
		p := pod("bad", map[string]string{inject.AnnotationExcludeOutboundCIDRs: "10.0.0.1/8"})
		_, err := c.cs.CoreV1().Pods(meshed).Create(ctx(t), p, metav1.CreateOptions{})
		want := `admission webhook "inject.hopseal.io" denied the request: hopseal: cannot inject this pod: annotation hopseal.io/exclude-outbound-cidrs: "10.0.0.1/8" has host bits set in 10.0.0.1/8: write the network address 10.0.0.0/8`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("create: %v\nwant an error containing %q", err, want)
		}
	})
	t.Run("webhook down: labelled namespaces fail closed, others open", func(t *testing.T) {
		c.stop()
		_, err := c.cs.CoreV1().Pods(meshed).Create(ctx(t), pod("while-down", nil), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `failed calling webhook "inject.hopseal.io"`) {
			t.Fatalf("create while the webhook is down: %v; want it refused", err)
		}
		checkUntouched(t, c.create(t, off, pod("independent", nil)))
		// An opt-in by annotation outside labelled namespaces does not
		// block: the pod is created as it is (hopseal check reports it).
		checkUntouched(t, c.create(t, plain, pod("opted-in-down", map[string]string{inject.AnnotationInject: inject.Enabled})))
	})
}

func checkUntouched(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if len(p.Spec.InitContainers) != 0 || len(p.Spec.Volumes) != 0 || p.Annotations[inject.AnnotationInjected] != "" {
		t.Fatalf("pod %s/%s was changed: init containers %d, volumes %d, annotations %v",
			p.Namespace, p.Name, len(p.Spec.InitContainers), len(p.Spec.Volumes), p.Annotations)
	}
	if p.Spec.Containers[0].ReadinessProbe.HTTPGet.Path != "/ready" {
		t.Errorf("probe rewritten in a pod left alone: %+v", p.Spec.Containers[0].ReadinessProbe)
	}
}

// checkInjected checks the stored pod against the injected pod contract.
func checkInjected(t *testing.T, p *corev1.Pod) {
	t.Helper()
	s := p.Spec
	if p.Annotations[inject.AnnotationInjected] != "v0.4.0" || len(s.InitContainers) != 2 {
		t.Fatalf("pod %s/%s not injected: annotations %v, %d init containers", p.Namespace, p.Name, p.Annotations, len(s.InitContainers))
	}
	init, proxy := s.InitContainers[0], s.InitContainers[1]
	if init.Name != inject.InitName || init.RestartPolicy != nil || init.Args[0] != "init-net" {
		t.Errorf("first init container %s (restartPolicy %v, args %v)", init.Name, init.RestartPolicy, init.Args)
	}
	if sc := init.SecurityContext; sc == nil || *sc.RunAsUser != 0 || len(sc.Capabilities.Add) != 1 || sc.Capabilities.Add[0] != "NET_ADMIN" {
		t.Errorf("hopseal-init security context %+v", sc)
	}
	if proxy.Name != inject.ProxyName || proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("second init container %s with restartPolicy %v, want the native sidecar hopseal-proxy", proxy.Name, proxy.RestartPolicy)
	}
	if sc := proxy.SecurityContext; sc == nil || *sc.RunAsUser != 1443 || !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("hopseal-proxy security context %+v", sc)
	}
	var probes apphealth.Probes
	for _, e := range proxy.Env {
		if e.Name == apphealth.EnvVar {
			var err error
			if probes, err = apphealth.Parse([]byte(e.Value)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if g := probes["web"][apphealth.Readiness].HTTPGet; g == nil || g.Port != 8080 || g.Path != "/ready" {
		t.Errorf("recorded probes %+v", probes)
	}
	if tcp := probes["web"][apphealth.Liveness].TCPSocket; tcp == nil || tcp.Port != 8080 {
		t.Errorf("recorded probes %+v", probes)
	}
	for kind, probe := range map[string]*corev1.Probe{"readiness": s.Containers[0].ReadinessProbe, "liveness": s.Containers[0].LivenessProbe} {
		if g := probe.HTTPGet; g == nil || g.Path != "/app-health/web/"+kind || g.Port.IntValue() != 14090 || probe.TCPSocket != nil {
			t.Errorf("%s probe stored as %+v, want httpGet /app-health/web/%s on 14090", kind, probe, kind)
		}
	}
	var tok *corev1.ServiceAccountTokenProjection
	for _, v := range s.Volumes {
		if v.Name == inject.TokenVolume && v.Projected != nil {
			tok = v.Projected.Sources[0].ServiceAccountToken
		}
	}
	if tok == nil || tok.Audience != "hopseal" || *tok.ExpirationSeconds != 3600 || tok.Path != "token" {
		t.Errorf("token volume %+v", tok)
	}
}
