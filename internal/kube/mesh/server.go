package mesh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
)

// Server streams snapshots to proxies (meshv1.MeshServer) over TLS. It
// verifies the caller's client certificate itself, against Bundles, so it
// can share a port with the CA's issuer, where certificates are optional.
type Server struct {
	meshv1.UnimplementedMeshServer
	State   *State
	Bundles x509bundle.Source
	Now     func() time.Time
	Log     *slog.Logger
	// PodWait bounds how long a Watch waits for a pod the cache does not
	// hold yet (a proxy can start before the informer hears of its pod).
	PodWait time.Duration
	// Coalesce gathers changes that come close together into one snapshot.
	Coalesce time.Duration
	Events   Events // may be nil
}

// Events are what the server reports for metrics.
type Events interface {
	StreamOpened()
	StreamClosed()
	SnapshotSent()
}

// Watch implements meshv1.MeshServer.
func (s *Server) Watch(req *meshv1.WatchRequest, stream meshv1.Mesh_WatchServer) error {
	ctx := stream.Context()
	caller, err := s.callerID(ctx)
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	if err := s.authorize(ctx, caller, req); err != nil {
		return err
	}
	if s.Events != nil {
		s.Events.StreamOpened()
		defer s.Events.StreamClosed()
	}
	var last string
	for {
		changed := s.State.Changed()
		pod, err := s.State.Pod(req.Namespace, req.Pod)
		if err != nil {
			return status.Errorf(codes.NotFound, "pod %s/%s is gone", req.Namespace, req.Pod)
		}
		if snap := s.State.Snapshot(pod); snap.Version != last {
			if err := stream.Send(snap); err != nil {
				return err
			}
			last = snap.Version
			if s.Events != nil {
				s.Events.SnapshotSent()
			}
			s.Log.Debug("mesh snapshot sent", "pod", req.Namespace+"/"+req.Pod, "version", last, "destinations", len(snap.Destinations))
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
		if !s.wait(ctx, s.Coalesce) {
			return nil
		}
	}
}

// authorize lets a caller watch only a pod running as its own service
// account: a proxy learns its workload's policy, not another's.
func (s *Server) authorize(ctx context.Context, caller spiffeid.ID, req *meshv1.WatchRequest) error {
	if req.Namespace == "" || req.Pod == "" {
		return status.Error(codes.InvalidArgument, "namespace and pod are required")
	}
	deadline := time.Now().Add(s.PodWait)
	for {
		pod, err := s.State.Pod(req.Namespace, req.Pod)
		if err == nil {
			want, err := WorkloadID(s.State.td, pod.Namespace, pod.Spec.ServiceAccountName)
			if err != nil || want != caller {
				s.Log.Warn("mesh watch refused", "caller", caller.String(), "pod", req.Namespace+"/"+req.Pod, "pod_identity", want.String())
				return status.Errorf(codes.PermissionDenied, "%s may not watch pod %s/%s: it runs as another identity", caller, req.Namespace, req.Pod)
			}
			return nil
		}
		if !errors.Is(err, ErrNoPod) || time.Now().After(deadline) {
			return status.Errorf(codes.NotFound, "pod %s/%s is not known to the controller", req.Namespace, req.Pod)
		}
		select {
		case <-s.State.Changed():
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// callerID is the SPIFFE ID of the caller's verified client certificate.
func (s *Server) callerID(ctx context.Context) (spiffeid.ID, error) {
	return CallerID(ctx, s.Bundles, s.Now())
}
