package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The trust bundle ConfigMap: injected proxies mount it to trust the CA
// before they hold an SVID.
const (
	BundleConfigMap = "hopseal-trust-bundle"
	BundleKey       = "bundle.pem"
)

// PublishBundle writes bundle into the ConfigMap of each namespace, where
// it differs. A namespace that fails does not stop the others; the errors
// are joined.
func PublishBundle(ctx context.Context, client kubernetes.Interface, namespaces []string, bundle []byte) error {
	var errs []error
	for _, ns := range namespaces {
		if err := writeBundle(ctx, client, ns, bundle); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func writeBundle(ctx context.Context, client kubernetes.Interface, namespace string, bundle []byte) error {
	cms := client.CoreV1().ConfigMaps(namespace)
	cm, err := cms.Get(ctx, BundleConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: BundleConfigMap, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "hopseal"}},
			Data:       map[string]string{BundleKey: string(bundle)},
		}, metav1.CreateOptions{FieldManager: "hopseal-controller"})
		return err
	}
	if err != nil {
		return err
	}
	if bytes.Equal([]byte(cm.Data[BundleKey]), bundle) {
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[BundleKey] = string(bundle)
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "hopseal-controller"})
	return err
}
