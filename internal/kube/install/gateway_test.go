package install

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/hopseal/hopseal/deploy"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

// objectsOf renders the chart with sets and returns its objects.
func objectsOf(t *testing.T, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := deploy.Objects(render(t, goldenVersion, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func decode(t *testing.T, objs []*unstructured.Unstructured, kind, ns, name string, out any) bool {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
				t.Fatalf("%s %s/%s does not decode strictly: %v", kind, ns, name, err)
			}
			return true
		}
	}
	return false
}

// Off by default: nothing of the gateway, and the controller does not
// follow Gateway API.
func TestGatewayOffByDefault(t *testing.T) {
	for _, o := range objectsOf(t) {
		if o.GetKind() == "GatewayClass" || strings.Contains(o.GetName(), "gateway") {
			t.Errorf("%s %s rendered without gateway.enabled", o.GetKind(), o.GetName())
		}
	}
	var d appsv1.Deployment
	decode(t, objectsOf(t), "Deployment", "hopseal-system", "hopseal-controller", &d)
	if slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--gateway-api") {
		t.Error("--gateway-api without gateway.enabled")
	}
}

// The gateway's pod has what `hopseal gateway --control-plane` reads (the
// injected proxy's environment and volumes), runs unprivileged, and the
// controller gets read access to Gateway API and to Secrets of the listed
// namespaces only.
func TestGatewayEnabled(t *testing.T) {
	objs := objectsOf(t, "gateway.enabled=true", "gateway.secretNamespaces={edge,certs}")
	var d appsv1.Deployment
	if !decode(t, objs, "Deployment", "hopseal-gateway", "hopseal-gateway", &d) {
		t.Fatal("no gateway Deployment in hopseal-gateway")
	}
	pod := d.Spec.Template.Spec
	if d.Spec.Template.Labels["gateway.networking.k8s.io/gateway-name"] != "hopseal" || d.Spec.Template.Annotations[inject.AnnotationInject] != inject.Disabled {
		t.Errorf("pod labels %v, annotations %v: want the Gateway's name and no injection", d.Spec.Template.Labels, d.Spec.Template.Annotations)
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args[:2], []string{"gateway", "--control-plane"}) || c.Image != "hopseal/hopseal:"+goldenVersion {
		t.Errorf("image %s args %v", c.Image, c.Args)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = e.ValueFrom.FieldRef.FieldPath
		}
		env[e.Name] = v
	}
	for name, want := range map[string]string{config.EnvPodName: "metadata.name", config.EnvPodNamespace: "metadata.namespace",
		config.EnvServiceAccount: "spec.serviceAccountName", config.EnvController: "hopseal-controller.hopseal-system.svc:8443", config.EnvTrustDomain: "cluster.local"} {
		if env[name] != want {
			t.Errorf("env %s = %q, want %q", name, env[name], want)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	for path, file := range map[string]string{"/var/run/hopseal/token": config.KubeTokenFile, "/var/run/hopseal/bundle": config.KubeBundleFile, "/var/run/hopseal/data": config.KubeDataDir} {
		if mounts[path] == "" || !strings.HasPrefix(file, path) {
			t.Errorf("no volume at %s (the gateway reads %s)", path, file)
		}
	}
	if sc := c.SecurityContext; sc == nil || !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container security context %+v", sc)
	}
	if psc := pod.SecurityContext; psc == nil || !slices.Contains(psc.Sysctls, corev1.Sysctl{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}) {
		t.Errorf("pod security context %+v: the gateway binds 80 and 443 unprivileged", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the gateway pod mounts an API token; it never talks to the API server")
	}

	var svc corev1.Service
	if !decode(t, objs, "Service", "hopseal-gateway", "hopseal-gateway", &svc) || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 2 {
		t.Errorf("gateway Service %+v: want a LoadBalancer on 443 and 80", svc.Spec)
	}
	var ctl appsv1.Deployment
	decode(t, objs, "Deployment", "hopseal-system", "hopseal-controller", &ctl)
	if !slices.Contains(ctl.Spec.Template.Spec.Containers[0].Args, "--gateway-api") {
		t.Error("the controller does not follow Gateway API")
	}

	var cr rbacv1.ClusterRole
	decode(t, objs, "ClusterRole", "", "hopseal-controller", &cr)
	var gwRules []rbacv1.PolicyRule
	for _, r := range cr.Rules {
		if slices.Contains(r.Resources, "secrets") {
			t.Errorf("the ClusterRole grants %v on secrets", r.Verbs)
		}
		if slices.Contains(r.APIGroups, "gateway.networking.k8s.io") {
			gwRules = append(gwRules, r)
			if slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "create" || v == "delete" || v == "*" }) {
				t.Errorf("Gateway API rule %+v writes more than status", r)
			}
		}
	}
	if len(gwRules) != 2 {
		t.Errorf("Gateway API rules %+v: want read and status", gwRules)
	}
	for _, ns := range []string{"edge", "certs"} {
		var role rbacv1.Role
		if !decode(t, objs, "Role", ns, "hopseal-controller-gateway-secrets", &role) ||
			!slices.Equal(role.Rules[0].Verbs, []string{"get"}) || !slices.Equal(role.Rules[0].Resources, []string{"secrets"}) {
			t.Errorf("namespace %s: Role %+v, want get on secrets", ns, role.Rules)
		}
	}
	var role rbacv1.Role
	if decode(t, objs, "Role", "hopseal-gateway", "hopseal-controller-gateway-secrets", &role) {
		t.Error("Secrets of hopseal-gateway readable though gateway.secretNamespaces names others")
	}
}
