// Package gateways is the controller's side of Gateway API: it follows
// GatewayClasses, Gateways, HTTPRoutes, TLSRoutes and ReferenceGrants (and,
// through the mesh State, Services, endpoints and namespaces), reads the
// TLS Secrets that hopseal's Gateways may use, streams each Gateway's
// translated configuration to the gateways serving it (api/mesh/v1
// Gateways) and, on the leader, writes status. Gateways never talk to the
// API server.
package gateways

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/kube/gatewayapi"
	"github.com/hopseal/hopseal/internal/kube/mesh"
)

// The Gateway API resources hopseal reads (standard channel, v1).
var (
	GatewayClasses  = gwv1.SchemeGroupVersion.WithResource("gatewayclasses")
	Gateways        = gwv1.SchemeGroupVersion.WithResource("gateways")
	HTTPRoutes      = gwv1.SchemeGroupVersion.WithResource("httproutes")
	TLSRoutes       = gwv1.SchemeGroupVersion.WithResource("tlsroutes")
	ReferenceGrants = gwv1.SchemeGroupVersion.WithResource("referencegrants")
	Resources       = []schema.GroupVersionResource{GatewayClasses, Gateways, HTTPRoutes, TLSRoutes, ReferenceGrants}
)

// Missing lists the Gateway API resources the API server does not serve.
func Missing(d discovery.DiscoveryInterface) ([]string, error) {
	list, err := d.ServerResourcesForGroupVersion(gwv1.SchemeGroupVersion.String())
	served := map[string]bool{}
	if err == nil {
		for _, r := range list.APIResources {
			served[r.Name] = true
		}
	}
	var missing []string
	for _, r := range Resources {
		if !served[r.Resource] {
			missing = append(missing, r.Resource+"."+r.Group)
		}
	}
	if err != nil && len(served) == 0 && !isNotFound(err) {
		return missing, err
	}
	return missing, nil
}

// State follows the Gateway API objects from informers' caches and the
// Secrets hopseal's Gateways may read.
type State struct {
	mesh    *mesh.State
	secrets *secretCache
	log     *slog.Logger
	factory dynamicinformer.DynamicSharedInformerFactory
	inf     map[schema.GroupVersionResource]cache.SharedIndexInformer

	mu      sync.Mutex
	changed chan struct{} // closed at the next change
}

// NewState sets up the informers; Start runs them.
func NewState(m *mesh.State, client kubernetes.Interface, dyn dynamic.Interface, log *slog.Logger) *State {
	s := &State{mesh: m, log: log, changed: make(chan struct{}), inf: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
	s.secrets = &secretCache{client: client.CoreV1(), log: log, notify: s.notify, entries: map[types.NamespacedName]secretEntry{}}
	s.factory = dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.notify() },
		UpdateFunc: func(any, any) { s.notify() },
		DeleteFunc: func(any) { s.notify() },
	}
	for _, r := range Resources {
		inf := s.factory.ForResource(r).Informer()
		inf.AddEventHandler(notify)
		s.inf[r] = inf
	}
	return s
}

// Start runs the informers until ctx ends and waits for their caches.
func (s *State) Start(ctx context.Context) error {
	s.factory.Start(ctx.Done())
	var synced []cache.InformerSynced
	for _, inf := range s.inf {
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("gateways: the informers' caches did not fill: %w (may the controller list gateway.networking.k8s.io resources?)", context.Cause(ctx))
	}
	return nil
}

func (s *State) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Changed returns a channel closed at the next change of a Gateway API
// object or of a Secret a Gateway uses.
func (s *State) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Mesh is the mesh's State this one reads Services and namespaces from.
func (s *State) Mesh() *mesh.State { return s.mesh }

// Classes returns the GatewayClasses whose controllerName is hopseal's.
func (s *State) Classes() []*gwv1.GatewayClass {
	var out []*gwv1.GatewayClass
	for _, c := range list[gwv1.GatewayClass](s.inf[GatewayClasses], "") {
		if c.Spec.ControllerName == gatewayapi.ControllerName {
			out = append(out, c)
		}
	}
	return out
}

// Gateways returns the Gateways of hopseal's classes.
func (s *State) Gateways() []*gwv1.Gateway {
	ours := map[string]bool{}
	for _, c := range s.Classes() {
		ours[c.Name] = true
	}
	var out []*gwv1.Gateway
	for _, g := range list[gwv1.Gateway](s.inf[Gateways], "") {
		if ours[string(g.Spec.GatewayClassName)] {
			out = append(out, g)
		}
	}
	return out
}

// Gateway returns a Gateway of hopseal's classes, or nil.
func (s *State) Gateway(key types.NamespacedName) *gwv1.Gateway {
	for _, g := range s.Gateways() {
		if g.Namespace == key.Namespace && g.Name == key.Name {
			return g
		}
	}
	return nil
}

// HTTPRoutes, TLSRoutes: every route in the cache.
func (s *State) HTTPRoutes() []*gwv1.HTTPRoute { return list[gwv1.HTTPRoute](s.inf[HTTPRoutes], "") }
func (s *State) TLSRoutes() []*gwv1.TLSRoute   { return list[gwv1.TLSRoute](s.inf[TLSRoutes], "") }

// list decodes the cached objects of an informer (of one namespace, or all
// with ""). Objects that do not decode are skipped: the API server
// validated them, so this only happens across versions.
func list[T any](inf cache.SharedIndexInformer, namespace string) []*T {
	objs := inf.GetStore().List()
	if namespace != "" {
		objs, _ = inf.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	}
	out := make([]*T, 0, len(objs))
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		t := new(T)
		if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, t) == nil {
			out = append(out, t)
		}
	}
	return out
}
