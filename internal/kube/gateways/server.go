package gateways

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/kube/mesh"
)

// Server streams Gateway configuration to hopseal gateways
// (meshv1.GatewaysServer) over TLS, verifying the caller's certificate
// itself as the mesh stream does.
type Server struct {
	meshv1.UnimplementedGatewaysServer
	// State is nil until the Gateway API CRDs are installed and its caches
	// filled; Ready is closed then.
	State   func() *State
	Ready   <-chan struct{}
	Mesh    *mesh.State
	Bundles x509bundle.Source
	Now     func() time.Time
	Log     *slog.Logger
	// PodWait bounds how long a Watch waits for a pod the cache does not
	// hold yet; Coalesce gathers changes that come close together.
	PodWait, Coalesce time.Duration
}

// Watch implements meshv1.GatewaysServer.
func (s *Server) Watch(req *meshv1.GatewayWatchRequest, stream meshv1.Gateways_WatchServer) error {
	ctx := stream.Context()
	caller, err := mesh.CallerID(ctx, s.Bundles, s.Now())
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	key, err := s.authorize(ctx, caller, req)
	if err != nil {
		return err
	}
	select {
	case <-s.Ready:
	case <-ctx.Done():
		return nil
	}
	st := s.State()
	var last string
	for {
		gwChanged, meshChanged := st.Changed(), s.Mesh.Changed()
		cfg := s.config(ctx, st, key)
		if cfg.Version != last {
			if err := stream.Send(cfg); err != nil {
				return err
			}
			last = cfg.Version
			s.Log.Info("gateway configuration sent", "gateway", key.String(), "caller", caller.String(), "version", cfg.Version,
				"listeners", len(cfg.Listeners), "certificates", len(cfg.Certificates))
		}
		select {
		case <-gwChanged:
		case <-meshChanged:
		case <-ctx.Done():
			return nil
		}
		t := time.NewTimer(s.Coalesce)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// config is the Gateway's configuration, or an empty one (serve nothing)
// while it does not exist or is not of a hopseal class.
func (s *Server) config(ctx context.Context, st *State, key types.NamespacedName) *meshv1.GatewayConfig {
	gw := st.Gateway(key)
	if gw == nil {
		return ToProto("", nil)
	}
	return ToProto(key.String(), st.Translate(ctx, gw).Listeners)
}

// authorize decides which Gateway a caller gets: only one of its own
// namespace, named in the request or by the label of a pod that runs as
// the caller's service account. Whoever may create pods in a namespace
// may read its Secrets anyway, so the namespace is the boundary; across
// namespaces only ReferenceGrants let a Gateway's certificates through.
func (s *Server) authorize(ctx context.Context, caller spiffeid.ID, req *meshv1.GatewayWatchRequest) (types.NamespacedName, error) {
	ns, sa, ok := workload(caller, s.Mesh.TrustDomain())
	switch {
	case !ok:
		return types.NamespacedName{}, status.Errorf(codes.PermissionDenied, "%s is not a workload of trust domain %s", caller, s.Mesh.TrustDomain().Name())
	case req.Namespace != ns:
		s.Log.Warn("gateway watch refused", "caller", caller.String(), "namespace", req.Namespace, "gateway", req.Gateway)
		return types.NamespacedName{}, status.Errorf(codes.PermissionDenied, "%s may only serve Gateways of namespace %s, not %s", caller, ns, req.Namespace)
	case req.Gateway != "":
		return types.NamespacedName{Namespace: ns, Name: req.Gateway}, nil
	case req.Pod == "":
		return types.NamespacedName{}, status.Error(codes.InvalidArgument, "name the gateway or the pod")
	}
	pod, err := s.waitPod(ctx, ns, req.Pod)
	if err != nil {
		return types.NamespacedName{}, err
	}
	if want, err := mesh.WorkloadID(s.Mesh.TrustDomain(), ns, pod.Spec.ServiceAccountName); err != nil || want != caller {
		s.Log.Warn("gateway watch refused", "caller", caller.String(), "pod", ns+"/"+req.Pod, "service_account", sa)
		return types.NamespacedName{}, status.Errorf(codes.PermissionDenied, "%s may not speak for pod %s/%s: it runs as another service account", caller, ns, req.Pod)
	}
	name := pod.Labels[gwv1.GatewayNameLabelKey]
	if name == "" {
		return types.NamespacedName{}, status.Errorf(codes.FailedPrecondition, "pod %s/%s has no label %s naming its Gateway (or start the gateway with --gateway)", ns, req.Pod, gwv1.GatewayNameLabelKey)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

func (s *Server) waitPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	deadline := time.Now().Add(s.PodWait)
	for {
		pod, err := s.Mesh.Pod(ns, name)
		if err == nil {
			return pod, nil
		}
		if !errors.Is(err, mesh.ErrNoPod) || time.Now().After(deadline) {
			return nil, status.Errorf(codes.NotFound, "pod %s/%s is not known to the controller", ns, name)
		}
		select {
		case <-s.Mesh.Changed():
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// workload splits spiffe://<td>/ns/<ns>/sa/<sa>.
func workload(id spiffeid.ID, td spiffeid.TrustDomain) (ns, sa string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if id.TrustDomain() != td || len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" {
		return "", "", false
	}
	return parts[1], parts[3], true
}
