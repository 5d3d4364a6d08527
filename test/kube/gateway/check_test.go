package gateway_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/testenv"
)

// `hopseal check` says whether the Gateway API CRDs are installed: fine
// to lack while the gateway is off, an error once the controller follows
// Gateway API, success once they are there. A cluster of its own: the
// CRDs come and go here.
func TestCheckGatewayCRDs(t *testing.T) {
	k := testenv.NewKubeAPI(t)
	k.InstallCRDs(t) // hopseal's: the report stops before the check without them
	cs, _ := k.Clients(t)
	for _, step := range []struct {
		name   string
		do     func(t *testing.T)
		result string
		says   string
	}{
		{"none, gateway off", func(*testing.T) {}, "success", "not installed; hopseal's gateway is off"},
		{"none, controller follows Gateway API", func(t *testing.T) { controllerWithGatewayAPI(t, cs) },
			"error", "missing: gatewayclasses.gateway.networking.k8s.io"},
		{"installed", func(t *testing.T) { installGatewayCRDs(t, k) }, "success", "v1.6.3 standard"},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.do(t)
			if result, msg := gatewayCheck(t, k.Kubeconfig); result != step.result || !strings.Contains(msg, step.says) {
				t.Errorf("check: %s %q; want %s saying %q", result, msg, step.result, step.says)
			}
		})
	}
}

// controllerWithGatewayAPI stores a controller Deployment (no pod runs)
// with --gateway-api, as the chart writes it with gateway.enabled.
func controllerWithGatewayAPI(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hopseal-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app.kubernetes.io/name": "hopseal"}
	_, err := cs.AppsV1().Deployments("hopseal-system").Create(ctx(t), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hopseal-controller"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "hopseal/hopseal:test", Args: []string{"controller", "--gateway-api"}}}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
