package mesh

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
)

// State follows the objects the mesh's view is made of, from informers'
// caches, and says when they change.
type State struct {
	td       spiffeid.TrustDomain
	core     informers.SharedInformerFactory
	crds     dynamicinformer.DynamicSharedInformerFactory
	pods     cache.SharedIndexInformer
	nss      cache.SharedIndexInformer
	services cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	authz    cache.SharedIndexInformer
	modes    cache.SharedIndexInformer

	mu      sync.Mutex
	changed chan struct{} // closed at the next change
	gen     uint64        // counts changes
	dests   []*meshv1.Destination
	destGen uint64 // gen dests was computed at; 0: never
}

// Resources of hopseal's CRDs.
var (
	AuthorizationPolicies = v1alpha1.GroupVersion.WithResource("authorizationpolicies")
	MTLSPolicies          = v1alpha1.GroupVersion.WithResource("mtlspolicies")
)

// NewState sets up the informers; Start runs them.
func NewState(td spiffeid.TrustDomain, client kubernetes.Interface, dyn dynamic.Interface) *State {
	s := &State{td: td, changed: make(chan struct{}), gen: 1}
	s.core = informers.NewSharedInformerFactory(client, 0)
	s.crds = dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	s.pods = s.core.Core().V1().Pods().Informer()
	s.nss = s.core.Core().V1().Namespaces().Informer()
	s.services = s.core.Core().V1().Services().Informer()
	s.slices = s.core.Discovery().V1().EndpointSlices().Informer()
	s.authz = s.crds.ForResource(AuthorizationPolicies).Informer()
	s.modes = s.crds.ForResource(MTLSPolicies).Informer()
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.notify() },
		UpdateFunc: func(any, any) { s.notify() },
		DeleteFunc: func(any) { s.notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{s.pods, s.nss, s.services, s.slices, s.authz, s.modes} {
		inf.AddEventHandler(notify)
	}
	return s
}

// Start runs the informers until ctx ends and waits for their caches.
func (s *State) Start(ctx context.Context) error {
	s.core.Start(ctx.Done())
	s.crds.Start(ctx.Done())
	synced := []cache.InformerSynced{s.pods.HasSynced, s.nss.HasSynced, s.services.HasSynced, s.slices.HasSynced, s.authz.HasSynced, s.modes.HasSynced}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("mesh: the informers' caches did not fill: %w (are hopseal's CRDs installed, and may the controller list pods, services, endpointslices and hopseal.io policies?)", context.Cause(ctx))
	}
	return nil
}

func (s *State) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.gen++
	s.mu.Unlock()
}

// Changed returns a channel closed at the next change.
func (s *State) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// ErrNoPod: the pod is not (yet) in the cache.
var ErrNoPod = errors.New("mesh: no such pod")

// Pod returns a pod from the cache.
func (s *State) Pod(namespace, name string) (*corev1.Pod, error) {
	obj, ok, err := s.pods.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w %s/%s", ErrNoPod, namespace, name)
	}
	return obj.(*corev1.Pod), nil
}

// Namespaces returns every namespace in the cache.
func (s *State) Namespaces() []*corev1.Namespace { return typed[*corev1.Namespace](s.nss) }

// Namespace returns a namespace from the cache, or nil.
func (s *State) Namespace(name string) *corev1.Namespace {
	obj, ok, _ := s.nss.GetIndexer().GetByKey(name)
	if !ok {
		return nil
	}
	return obj.(*corev1.Namespace)
}

// Pods returns the pods of a namespace in the cache.
func (s *State) Pods(namespace string) []*corev1.Pod {
	objs, _ := s.pods.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

// TrustDomain is the mesh's trust domain.
func (s *State) TrustDomain() spiffeid.TrustDomain { return s.td }

// Destinations returns the mesh's addresses, computed once per change.
func (s *State) Destinations() []*meshv1.Destination {
	s.mu.Lock()
	gen := s.gen
	if s.destGen == gen {
		defer s.mu.Unlock()
		return s.dests
	}
	s.mu.Unlock()
	d := Destinations(s.td, typed[*corev1.Pod](s.pods), typed[*corev1.Service](s.services), typed[*discoveryv1.EndpointSlice](s.slices))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen { // else a newer change came meanwhile: keep d uncached
		s.dests, s.destGen = d, gen
	}
	return d
}

// Policies returns the hopseal policies of a namespace. Objects that do not
// decode are skipped: the API server validated them, so this only happens
// across versions, and the controller reports them in their status.
func (s *State) Policies(namespace string) ([]v1alpha1.AuthorizationPolicy, []v1alpha1.MTLSPolicy) {
	return fromUnstructured[v1alpha1.AuthorizationPolicy](s.authz, namespace), fromUnstructured[v1alpha1.MTLSPolicy](s.modes, namespace)
}

func typed[T any](inf cache.SharedIndexInformer) []T {
	objs := inf.GetStore().List()
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func fromUnstructured[T any](inf cache.SharedIndexInformer, namespace string) []T {
	objs, _ := inf.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		var t T
		if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &t) == nil {
			out = append(out, t)
		}
	}
	return out
}
