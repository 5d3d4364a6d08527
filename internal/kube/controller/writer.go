package controller

import (
	"context"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/hopseal/hopseal/internal/kube/inject"
	"github.com/hopseal/hopseal/internal/kube/mesh"
	"github.com/hopseal/hopseal/internal/kube/webhook"
)

// Writer keeps what the controller writes current: trust bundle
// ConfigMaps and policy status. Run it on the leader only.
type Writer struct {
	Client kubernetes.Interface
	Dyn    dynamic.Interface
	State  *mesh.State
	System string        // the control plane's namespace
	Bundle func() []byte // the trust bundle in force (PEM)
	Log    *slog.Logger
	// Resync rewrites everything this often even without a change seen,
	// to pick up a new bundle and repair edits by hand.
	Resync time.Duration
	// BundleAlso names more namespaces that need the trust bundle (those
	// of hopseal's Gateways); may be nil.
	BundleAlso BundleNamespaces
}

// BundleNamespaces are namespaces that need the trust bundle, and a
// channel closed when they may have changed.
type BundleNamespaces interface {
	Namespaces() []string
	Changed() <-chan struct{}
}

// Run writes at once, after each change and at each resync, until ctx
// ends. Failures are logged and retried at the next round.
func (w *Writer) Run(ctx context.Context) error {
	resync := time.NewTicker(w.Resync)
	defer resync.Stop()
	hook := w.watchWebhook(ctx)
	for {
		changed := w.State.Changed()
		var alsoChanged <-chan struct{}
		if w.BundleAlso != nil {
			alsoChanged = w.BundleAlso.Changed()
		}
		w.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-alsoChanged:
		case <-hook:
		case <-resync.C:
		}
		// Pods change often; one round a second reads (and writes) enough.
		t := time.NewTimer(writerCoalesce)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// writerCoalesce gathers the changes that come close together into one
// round of writes.
const writerCoalesce = time.Second

// watchWebhook signals each change of hopseal's webhook configuration: an
// install or upgrade applies it without a caBundle, and pods cannot be
// created in injected namespaces until the caBundle is back.
func (w *Writer) watchWebhook(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	f := informers.NewSharedInformerFactoryWithOptions(w.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", webhook.ConfigurationName).String()
	}))
	f.Admissionregistration().V1().MutatingWebhookConfigurations().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	})
	f.Start(ctx.Done())
	return ch
}

func (w *Writer) once(ctx context.Context) {
	nss := w.State.Namespaces()
	bundle := w.Bundle()
	if err := PublishBundle(ctx, w.Client, w.needBundle(nss), bundle); err != nil && ctx.Err() == nil {
		w.Log.Error("publish the trust bundle", "error", err)
	}
	if err := PatchWebhookCABundle(ctx, w.Client, bundle); err != nil && ctx.Err() == nil {
		w.Log.Error("set the webhook's caBundle", "error", err)
	}
	for _, ns := range nss {
		if err := WriteStatus(ctx, w.Dyn, w.State, ns.Name); err != nil && ctx.Err() == nil {
			w.Log.Error("write policy status", "namespace", ns.Name, "error", err)
		}
	}
}

// needBundle: the system namespace, namespaces with injection, any
// namespace holding an injected pod (a pod may opt in by annotation), and
// those BundleAlso names (gateway pods mount the bundle too).
func (w *Writer) needBundle(nss []*corev1.Namespace) []string {
	var out, also []string
	if w.BundleAlso != nil {
		also = w.BundleAlso.Namespaces()
	}
	for _, ns := range nss {
		if ns.DeletionTimestamp != nil {
			continue
		}
		if ns.Name == w.System || ns.Labels[inject.LabelInject] == inject.Enabled || w.hasInjectedPod(ns.Name) || slices.Contains(also, ns.Name) {
			out = append(out, ns.Name)
		}
	}
	return out
}

func (w *Writer) hasInjectedPod(namespace string) bool {
	for _, p := range w.State.Pods(namespace) {
		if _, ok := p.Annotations[inject.AnnotationInjected]; ok {
			return true
		}
	}
	return false
}
