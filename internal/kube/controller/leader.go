package controller

import (
	"context"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseName is the Lease the controller's replicas elect a leader with.
const LeaseName = "hopseal-controller"

// Lead runs lead whenever this replica (identity) holds the Lease in
// namespace, with a context that ends when it loses it; it returns when
// ctx ends, releasing the Lease so another replica takes over at once.
func Lead(ctx context.Context, client kubernetes.Interface, namespace, identity string, log *slog.Logger, lead func(context.Context)) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: LeaseName, Namespace: namespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock: lock, ReleaseOnCancel: true, Name: LeaseName,
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					log.Info("leading: writing bundle ConfigMaps and policy status", "identity", identity)
					lead(ctx)
				},
				OnStoppedLeading: func() { log.Info("no longer leading", "identity", identity) },
				OnNewLeader: func(id string) {
					if id != identity {
						log.Info("another replica leads", "leader", id)
					}
				},
			},
		})
	}
}
