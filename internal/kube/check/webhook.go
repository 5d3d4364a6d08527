package check

import (
	"context"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hopseal/hopseal/internal/kube/webhook"
	"github.com/hopseal/hopseal/internal/pki"
)

var webhookCategory = category{name: "hopseal-webhook", checks: fixed(
	check{desc: "injection webhook is configured", run: webhookConfigured},
	check{desc: "injection webhook has ready endpoints", run: webhookEndpoints},
)}

// webhookConfigured wants the configuration with its webhook and the
// controller's CA in caBundle, or the API server cannot call it.
func webhookConfigured(ctx context.Context, e *Env) outcome {
	cfg, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhook.ConfigurationName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fail(installHint, "MutatingWebhookConfiguration %s not found", webhook.ConfigurationName)
	}
	if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	want := webhook.Configuration(admissionregistrationv1.WebhookClientConfig{}).Webhooks // the ones install applies
	var names []string
	for _, hook := range want {
		i := slices.IndexFunc(cfg.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == hook.Name })
		if i < 0 {
			return fail(installHint, "MutatingWebhookConfiguration %s has no webhook %s", webhook.ConfigurationName, hook.Name)
		}
		w := cfg.Webhooks[i]
		if len(w.ClientConfig.CABundle) == 0 {
			return fail("until it is set the API server cannot call the webhook, so pods of injected namespaces are not created; "+leaderHint,
				"webhook %s has an empty caBundle", w.Name)
		}
		if _, err := pki.ParseCerts(w.ClientConfig.CABundle); err != nil {
			return fail(leaderHint, "webhook %s: caBundle: %v", w.Name, err)
		}
		names = append(names, w.Name)
	}
	return ok("%s, caBundle set", strings.Join(names, ", "))
}

// webhookEndpoints wants a ready address behind the webhook's Service.
func webhookEndpoints(ctx context.Context, e *Env) outcome {
	slices, err := e.Client.DiscoveryV1().EndpointSlices(webhook.ServiceNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "kubernetes.io/service-name=" + webhook.ServiceName,
	})
	if err != nil {
		return fail(kubeconfigHint, "%v", err)
	}
	var ready []string
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready = append(ready, ep.Addresses...)
			}
		}
	}
	if len(ready) == 0 {
		return fail("the API server has nowhere to send pods for injection; "+logsHint,
			"Service %s/%s has no ready endpoint", webhook.ServiceNamespace, webhook.ServiceName)
	}
	return ok("%s", strings.Join(ready, ", "))
}
