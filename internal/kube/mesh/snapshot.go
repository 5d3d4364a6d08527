package mesh

import (
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	meshv1 "github.com/hopseal/hopseal/api/mesh/v1"
	"github.com/hopseal/hopseal/internal/kube/authz"
	"github.com/hopseal/hopseal/internal/policy"
)

// Snapshot is pod's view of the mesh: every meshed destination, and the
// pod's own inbound policy and mode. Version is a digest of the rest, so a
// proxy's view changes exactly when its version does.
func (s *State) Snapshot(pod *corev1.Pod) *meshv1.Snapshot {
	aps, mps := s.Policies(pod.Namespace)
	res := authz.ForWorkload(authz.Workload{Namespace: pod.Namespace, Labels: pod.Labels}, s.td, aps, mps)
	snap := &meshv1.Snapshot{
		Destinations: s.Destinations(),
		Workload:     &meshv1.Workload{Mode: string(res.Mode), Rules: rulesToProto(res.Rules), Policies: res.Selected},
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	sum := sha256.Sum256(b)
	snap.Version = hex.EncodeToString(sum[:8])
	return snap
}

func rulesToProto(rules []policy.Rule) []*meshv1.Rule {
	out := make([]*meshv1.Rule, 0, len(rules))
	for _, r := range rules {
		pr := &meshv1.Rule{Name: r.Name}
		for _, p := range r.Ports {
			pr.Ports = append(pr.Ports, uint32(p))
		}
		for _, f := range r.From {
			pr.From = append(pr.From, peerToProto(f))
		}
		if r.HTTP != nil {
			pr.Http = &meshv1.HTTPMatch{Methods: r.HTTP.Methods, PathPrefixes: r.HTTP.PathPrefixes}
		}
		out = append(out, pr)
	}
	return out
}

// peerToProto: a namespace peer translated from the CRDs is always of the
// mesh's own trust domain, so the wire form carries the namespace alone.
func peerToProto(p policy.Peer) *meshv1.Peer {
	switch {
	case p.SPIFFEID != "":
		return &meshv1.Peer{Kind: &meshv1.Peer_SpiffeId{SpiffeId: p.SPIFFEID}}
	case p.Namespace != "":
		return &meshv1.Peer{Kind: &meshv1.Peer_Namespace{Namespace: p.Namespace}}
	case p.TrustDomain != "":
		return &meshv1.Peer{Kind: &meshv1.Peer_TrustDomain{TrustDomain: p.TrustDomain}}
	default:
		return &meshv1.Peer{Kind: &meshv1.Peer_Unauthenticated{Unauthenticated: p.Unauthenticated}}
	}
}
