package gateways

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/hopseal/hopseal/internal/kube/gatewayapi"
)

// secretCache holds the TLS Secrets hopseal's Gateways may use, read one
// by one by name: the controller neither lists nor watches Secrets, so its
// RBAC can stop at get, and it never reads a Secret no Gateway names (or,
// across namespaces, no ReferenceGrant allows). A poll keeps them current.
type secretCache struct {
	client corev1client.SecretsGetter
	log    *slog.Logger
	notify func()

	mu      sync.Mutex
	entries map[types.NamespacedName]secretEntry
}

type secretEntry struct {
	secret  *corev1.Secret // nil: absent or not readable
	version string         // resourceVersion; "" when absent
}

// get returns the Secrets of keys that exist, and those the controller may
// not read, reading those not cached yet.
func (c *secretCache) get(ctx context.Context, keys []types.NamespacedName) (map[types.NamespacedName]*corev1.Secret, map[types.NamespacedName]bool) {
	out, refused := map[types.NamespacedName]*corev1.Secret{}, map[types.NamespacedName]bool{}
	for _, k := range keys {
		c.mu.Lock()
		e, ok := c.entries[k]
		c.mu.Unlock()
		if !ok {
			e = c.fetch(ctx, k, secretEntry{})
			c.mu.Lock()
			c.entries[k] = e
			c.mu.Unlock()
		}
		if e.secret != nil {
			out[k] = e.secret
		}
		if e.version == forbidden {
			refused[k] = true
		}
	}
	return out, refused
}

// forbidden is the version of a Secret the controller may not read.
const forbidden = "forbidden"

// refresh reads keys again, forgets the Secrets no longer named, and
// notifies when any changed.
func (c *secretCache) refresh(ctx context.Context, keys []types.NamespacedName) {
	fresh := map[types.NamespacedName]secretEntry{}
	c.mu.Lock()
	old := c.entries
	c.mu.Unlock()
	changed := false
	for _, k := range keys {
		prev, had := old[k]
		e := c.fetch(ctx, k, prev)
		fresh[k] = e
		changed = changed || !had || e.version != prev.version
	}
	changed = changed || len(fresh) != len(old)
	c.mu.Lock()
	c.entries = fresh
	c.mu.Unlock()
	if changed {
		c.notify()
	}
}

// fetch reads one Secret; on an error other than absence or refusal it
// keeps prev, so a blip of the API server changes nothing.
func (c *secretCache) fetch(ctx context.Context, k types.NamespacedName, prev secretEntry) secretEntry {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := c.client.Secrets(k.Namespace).Get(ctx, k.Name, metav1.GetOptions{})
	switch {
	case err == nil:
		return secretEntry{secret: s, version: s.ResourceVersion}
	case apierrors.IsNotFound(err):
		return secretEntry{}
	case apierrors.IsForbidden(err):
		c.log.Warn("the controller may not read a Secret a Gateway names; allow get on it (chart value gateway.secretNamespaces)", "secret", k.String())
		return secretEntry{version: forbidden}
	}
	if ctx.Err() == nil {
		c.log.Warn("read a Secret a Gateway names; keeping what was read before", "secret", k.String(), "error", err)
	}
	return prev
}

// Translate computes a Gateway's configuration and status from the caches.
func (s *State) Translate(ctx context.Context, gw *gwv1.Gateway) gatewayapi.Result {
	grants := list[gwv1.ReferenceGrant](s.inf[ReferenceGrants], "")
	in := gatewayapi.Input{
		Gateway: gw, HTTPRoutes: s.HTTPRoutes(), TLSRoutes: s.TLSRoutes(), Grants: grants,
		Namespaces: map[string]map[string]string{}, Services: map[types.NamespacedName]*corev1.Service{},
		Destinations: s.mesh.Destinations(), Now: time.Now(),
	}
	in.Secrets, in.Unreadable = s.secrets.get(ctx, gatewayapi.SecretRefs(gw, grants))
	for _, ns := range s.mesh.Namespaces() {
		in.Namespaces[ns.Name] = ns.Labels
	}
	for _, svc := range s.mesh.Services() {
		in.Services[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}] = svc
	}
	return gatewayapi.Translate(in)
}

// RunSecrets reads the Secrets hopseal's Gateways use every interval (and
// after each change of a Gateway or ReferenceGrant) until ctx ends, so a
// renewed certificate reaches the gateways within one interval.
func (s *State) RunSecrets(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		changed := s.Changed()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
		grants := list[gwv1.ReferenceGrant](s.inf[ReferenceGrants], "")
		var keys []types.NamespacedName
		for _, gw := range s.Gateways() {
			keys = append(keys, gatewayapi.SecretRefs(gw, grants)...)
		}
		s.secrets.refresh(ctx, keys)
	}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
