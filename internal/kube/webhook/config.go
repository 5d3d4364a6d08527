package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/kube/inject"
)

// Names of the webhook configuration and of its webhooks.
const (
	ConfigurationName = "hopseal-injector"
	WebhookName       = "inject.hopseal.io"
	// WebhookNameAnnotated sees namespaces without the label, for pods that
	// opt in by annotation.
	WebhookNameAnnotated = "inject-annotated.hopseal.io"
	// Service is how the API server reaches the webhook in a cluster.
	ServiceNamespace = "hopseal-system"
	ServiceName      = "hopseal-controller"
	ServicePort      = 443
)

// neverInjected are namespaces whose pods the webhook never sees: the
// cluster's own, and hopseal's, whose controller must start even while the
// webhook (which it serves) is down.
var neverInjected = []string{"kube-system", ServiceNamespace}

// ServiceClientConfig points the API server at the hopseal-controller
// Service, trusting caBundle (PEM) for its certificate.
func ServiceClientConfig(caBundle []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{
		Service: &admissionregistrationv1.ServiceReference{
			Namespace: ServiceNamespace, Name: ServiceName, Path: ptr(Path), Port: ptr(int32(ServicePort)),
		},
		CABundle: caBundle,
	}
}

// Configuration is the MutatingWebhookConfiguration that sends pod
// creations to the webhook, with two webhooks:
//
//   - WebhookName, for namespaces labelled hopseal.io/inject=enabled. It
//     fails closed (failurePolicy Fail): while the webhook is unreachable,
//     their pods are not created rather than created without the proxy. A
//     hopseal outage blocks pod creation in meshed namespaces only.
//   - WebhookNameAnnotated, for the other namespaces (but those labelled
//     disabled, kube-system and hopseal-system), so that a pod can opt in
//     by annotation. It fails open (Ignore): an outage must not block pod
//     creation across the cluster. A pod that asked for the proxy and was
//     created without it is what `hopseal check` reports.
//
// The handler reads the label and the annotation itself in both cases.
func Configuration(client admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.MutatingWebhookConfiguration {
	notSystem := metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: neverInjected}
	labelled := hook(WebhookName, client, admissionregistrationv1.Fail, metav1.LabelSelectorRequirement{
		Key: inject.LabelInject, Operator: metav1.LabelSelectorOpIn, Values: []string{inject.Enabled},
	}, notSystem)
	others := hook(WebhookNameAnnotated, client, admissionregistrationv1.Ignore, metav1.LabelSelectorRequirement{
		Key: inject.LabelInject, Operator: metav1.LabelSelectorOpNotIn, Values: []string{inject.Enabled, inject.Disabled},
	}, notSystem)
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{labelled, others},
	}
}

func hook(name string, client admissionregistrationv1.WebhookClientConfig, failure admissionregistrationv1.FailurePolicyType, namespaces ...metav1.LabelSelectorRequirement) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		Name:         name,
		ClientConfig: client,
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				Scope: ptr(admissionregistrationv1.NamespacedScope),
			},
		}},
		NamespaceSelector:       &metav1.LabelSelector{MatchExpressions: namespaces},
		FailurePolicy:           ptr(failure),
		MatchPolicy:             ptr(admissionregistrationv1.Equivalent),
		SideEffects:             ptr(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr(int32(10)),
		AdmissionReviewVersions: []string{"v1"},
		ReinvocationPolicy:      ptr(admissionregistrationv1.NeverReinvocationPolicy),
	}
}

func ptr[T any](v T) *T { return &v }
