package gateways

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/kube/gatewayapi"
)

// FieldManager names the controller's writes.
const FieldManager = "hopseal-controller"

// Writer keeps the status of hopseal's GatewayClasses, Gateways and the
// routes attached to them current. Run it on the leader only.
type Writer struct {
	State  *State
	Dyn    dynamic.Interface
	Log    *slog.Logger
	Resync time.Duration // rewrite at least this often, to repair edits by hand
	// Coalesce gathers changes that come close together into one round.
	Coalesce time.Duration
}

// Run writes at once, after each change and at each resync, until ctx
// ends. Failures (a conflict with another writer) are logged and retried
// at the next round.
func (w *Writer) Run(ctx context.Context) error {
	resync := time.NewTicker(w.Resync)
	defer resync.Stop()
	for {
		gwChanged, meshChanged := w.State.Changed(), w.State.Mesh().Changed()
		w.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-gwChanged:
		case <-meshChanged:
		case <-resync.C:
		}
		t := time.NewTimer(w.Coalesce)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

type routeKey struct{ kind, namespace, name string }

func (w *Writer) once(ctx context.Context) {
	for _, c := range w.State.Classes() {
		want := condition(gwv1.GatewayClassConditionStatusAccepted, string(gwv1.GatewayClassReasonAccepted), "hopseal serves Gateways of this class", c.Generation)
		w.write(ctx, GatewayClasses, "", c.Name, func(u *unstructured.Unstructured) (bool, error) {
			return mergeClassStatus(u, want)
		})
	}
	parents := map[routeKey][]gwv1.RouteParentStatus{}
	for _, gw := range w.State.Gateways() {
		res := w.State.Translate(ctx, gw)
		w.write(ctx, Gateways, gw.Namespace, gw.Name, func(u *unstructured.Unstructured) (bool, error) {
			return mergeGatewayStatus(u, res.Status)
		})
		for _, r := range res.Routes {
			k := routeKey{r.Kind, r.Namespace, r.Name}
			parents[k] = append(parents[k], r.Parents...)
		}
	}
	// Every route: also those that no longer name a hopseal Gateway, whose
	// entries of hopseal's must go.
	for _, r := range w.State.HTTPRoutes() {
		w.writeRoute(ctx, HTTPRoutes, routeKey{gatewayapi.KindHTTPRoute, r.Namespace, r.Name}, r.Status.Parents, parents)
	}
	for _, r := range w.State.TLSRoutes() {
		w.writeRoute(ctx, TLSRoutes, routeKey{gatewayapi.KindTLSRoute, r.Namespace, r.Name}, r.Status.Parents, parents)
	}
}

func (w *Writer) writeRoute(ctx context.Context, gvr schema.GroupVersionResource, k routeKey, cached []gwv1.RouteParentStatus, all map[routeKey][]gwv1.RouteParentStatus) {
	ours := all[k]
	if _, changed := mergeParents(cached, ours); !changed {
		return
	}
	w.write(ctx, gvr, k.namespace, k.name, func(u *unstructured.Unstructured) (bool, error) {
		return mergeRouteStatus(u, ours)
	})
}

// write updates one object's status subresource when merge changes it.
// merge runs on the informer's copy first, so unchanged objects cost no
// request, then on a fresh copy, which is what gets written.
func (w *Writer) write(ctx context.Context, gvr schema.GroupVersionResource, ns, name string, merge func(*unstructured.Unstructured) (bool, error)) {
	obj, ok, _ := w.State.inf[gvr].GetStore().GetByKey(key(ns, name))
	if !ok {
		return
	}
	if changed, err := merge(obj.(*unstructured.Unstructured).DeepCopy()); err != nil || !changed {
		return
	}
	r := w.Dyn.Resource(gvr).Namespace(ns)
	fresh, err := r.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		var changed bool
		if changed, err = merge(fresh); err == nil && changed {
			_, err = r.UpdateStatus(ctx, fresh, metav1.UpdateOptions{FieldManager: FieldManager})
		}
	}
	if err != nil && ctx.Err() == nil {
		w.Log.Warn("write Gateway API status; retrying at the next round", "resource", gvr.Resource, "object", key(ns, name), "error", err)
	}
}

func key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func condition[T ~string](typ T, reason, msg string, gen int64) metav1.Condition {
	return metav1.Condition{Type: string(typ), Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen}
}

// editStatus decodes u's status into st and, after change, encodes it back.
func editStatus[T any](u *unstructured.Unstructured, change func(*T) bool) (bool, error) {
	var st T
	raw, _, _ := unstructured.NestedMap(u.Object, "status")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st); err != nil {
		return false, fmt.Errorf("decode status: %w", err)
	}
	if !change(&st) {
		return false, nil
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return false, err
	}
	u.Object["status"] = obj
	return true, nil
}
