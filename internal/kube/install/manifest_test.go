package install

import (
	"reflect"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/kube/webhook"
)

// typed decodes the one object of kind (and name, if several) into out.
func typed(t *testing.T, kind, name string, out any) {
	t.Helper()
	objs, err := deploy.Objects(render(t, goldenVersion))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
				t.Fatalf("%s %s does not decode strictly: %v", kind, o.GetName(), err)
			}
			return
		}
	}
	t.Fatalf("no %s %q in the manifest", kind, name)
}

func TestControllerPod(t *testing.T) {
	var d appsv1.Deployment
	typed(t, "Deployment", "hopseal-controller", &d)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != "hopseal-controller" {
		t.Errorf("service account %q", pod.ServiceAccountName)
	}
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Error("no pod anti-affinity: both replicas may land on one node")
	}
	if sc := pod.SecurityContext; sc == nil || !*sc.RunAsNonRoot || *sc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want non-root", sc)
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container security context %+v: want read-only root, no escalation, drop ALL", sc)
	}
	for probe, path := range map[*corev1.Probe]string{c.ReadinessProbe: "/ready", c.LivenessProbe: "/live", c.StartupProbe: "/live"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.StrVal != "admin" {
			t.Errorf("probe %+v: want httpGet %s on port admin", probe, path)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !reflect.DeepEqual(ports, map[string]int32{"grpc": 8443, "webhook": 9443, "admin": 9090}) {
		t.Errorf("container ports %v", ports)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom.FieldRef.FieldPath
	}
	if !reflect.DeepEqual(env, map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}) {
		t.Errorf("env %v", env)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want requests and a memory limit", c.Resources)
	}
	// With a read-only root, the controller's --data-dir must be a volume.
	if !slices.Contains(c.Args, "--data-dir=/var/lib/hopseal") ||
		!slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/var/lib/hopseal" && !m.ReadOnly }) {
		t.Errorf("args %v, mounts %v: want --data-dir=/var/lib/hopseal on a writable volume", c.Args, c.VolumeMounts)
	}
	if c.Args[0] != "controller" {
		t.Errorf("args %v: want the controller command first", c.Args)
	}
}

func TestServicePorts(t *testing.T) {
	var s corev1.Service
	typed(t, "Service", "hopseal-controller", &s)
	want := map[string]int32{"grpc": 8443, "webhook": 443, "admin": 9090}
	for _, p := range s.Spec.Ports {
		if want[p.Name] != p.Port || p.TargetPort.StrVal != p.Name {
			t.Errorf("port %s: %d → %s, want %d → the container's port %s", p.Name, p.Port, p.TargetPort.String(), want[p.Name], p.Name)
		}
	}
	if len(s.Spec.Ports) != len(want) {
		t.Errorf("%d ports, want %d", len(s.Spec.Ports), len(want))
	}
}

// The chart's webhook configuration is the webhook package's, without a
// caBundle (the controller's).
func TestWebhookConfiguration(t *testing.T) {
	var got admissionregistrationv1.MutatingWebhookConfiguration
	typed(t, "MutatingWebhookConfiguration", webhook.ConfigurationName, &got)
	want := webhook.Configuration(webhook.ServiceClientConfig(nil))
	if len(got.Webhooks) != len(want.Webhooks) {
		t.Fatalf("%d webhooks, want %d", len(got.Webhooks), len(want.Webhooks))
	}
	for i := range want.Webhooks {
		g, w := got.Webhooks[i], want.Webhooks[i]
		if len(g.ClientConfig.CABundle) != 0 {
			t.Errorf("%s: caBundle is set: re-applying the manifest would clear the controller's", g.Name)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("webhook %d differs from webhook.Configuration:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// The controller may write only its own webhook configuration, and Secrets
// only in its namespace.
func TestLeastPrivilege(t *testing.T) {
	var cr rbacv1.ClusterRole
	typed(t, "ClusterRole", "hopseal-controller", &cr)
	for _, r := range cr.Rules {
		for _, res := range r.Resources {
			switch {
			case res == "secrets":
				t.Errorf("the ClusterRole grants %v on secrets: Secrets belong in the Role", r.Verbs)
			case res == "mutatingwebhookconfigurations" && !slices.Equal(r.ResourceNames, []string{webhook.ConfigurationName}):
				t.Errorf("webhook configurations without resourceNames [%s]: %+v", webhook.ConfigurationName, r)
			case res == "configmaps" && len(r.ResourceNames) == 0 && !slices.Equal(r.Verbs, []string{"create"}):
				t.Errorf("configmaps %v on any name: only create cannot be limited by name", r.Verbs)
			}
			if slices.Contains(r.Verbs, "*") || slices.Contains(r.Verbs, "delete") || res == "*" {
				t.Errorf("rule %+v: no wildcards or deletes", r)
			}
		}
	}
	var role rbacv1.Role
	typed(t, "Role", "hopseal-controller", &role)
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "secrets") && len(r.ResourceNames) == 0 && !slices.Equal(r.Verbs, []string{"create"}) {
			t.Errorf("secrets %v on any name: only create cannot be limited by name", r.Verbs)
		}
	}
}
