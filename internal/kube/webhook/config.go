package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/kube/inject"
)

// Names of the webhook configuration and of its one webhook.
const (
	ConfigurationName = "hopseal-injector"
	WebhookName       = "inject.hopseal.io"
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
// creations to the webhook.
//
// Pods of every namespace reach it except kube-system, hopseal-system and
// namespaces labelled hopseal.io/inject=disabled: a pod may opt in by
// annotation in a namespace that is not labelled, and annotations cannot be
// selected on. The handler checks the label itself. It fails closed
// (failurePolicy Fail): while the webhook is unreachable, such pods are not
// created at all rather than created without the proxy; label a namespace
// hopseal.io/inject=disabled to keep its pods independent of hopseal.
func Configuration(client admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         WebhookName,
			ClientConfig: client,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr(admissionregistrationv1.NamespacedScope),
				},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: inject.LabelInject, Operator: metav1.LabelSelectorOpNotIn, Values: []string{inject.Disabled}},
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: neverInjected},
			}},
			FailurePolicy:           ptr(admissionregistrationv1.Fail),
			MatchPolicy:             ptr(admissionregistrationv1.Equivalent),
			SideEffects:             ptr(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr(int32(10)),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr(admissionregistrationv1.NeverReinvocationPolicy),
		}},
	}
}

func ptr[T any](v T) *T { return &v }
