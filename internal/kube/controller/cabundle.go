package controller

import (
	"bytes"
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/kube/webhook"
)

// PatchWebhookCABundle makes the API server trust the webhook's
// certificate: it sets caBundle (the mesh's roots, PEM) on every webhook of
// hopseal's MutatingWebhookConfiguration where it differs. A missing
// configuration is not an error (installed without injection).
func PatchWebhookCABundle(ctx context.Context, client kubernetes.Interface, bundle []byte) error {
	whs := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cfg, err := whs.Get(ctx, webhook.ConfigurationName, metav1.GetOptions{})
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
			cfg.Webhooks[i].ClientConfig.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return nil
	}
	_, err = whs.Update(ctx, cfg, metav1.UpdateOptions{FieldManager: "hopseal-controller"})
	return err
}
