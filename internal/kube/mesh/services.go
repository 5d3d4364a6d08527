package mesh

import corev1 "k8s.io/api/core/v1"

// Services returns every Service in the cache (the Gateway API side
// resolves backendRefs with them).
func (s *State) Services() []*corev1.Service { return typed[*corev1.Service](s.services) }
