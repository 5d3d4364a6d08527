package sidecar

import (
	"fmt"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/hopseal/hopseal/internal/apphealth"
	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/meshwatch"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// setupControlPlane takes policy, discovery and mode from the controller's
// stream. The connection is made lazily, once the agent holds an SVID to
// present; the controller serves the stream with the CA's identity.
func (s *Sidecar) setupControlPlane(cp *config.ControlPlane) error {
	conf := tlsconf.Client(s.agent, s.agent, tlsconf.AuthorizeID(identity.CA(s.cfg.TrustDomain)), s.clock.Now)
	conn, err := grpc.NewClient(cp.Address, grpc.WithTransportCredentials(credentials.NewTLS(conf)), grpc.WithDisableServiceConfig())
	if err != nil {
		return fmt.Errorf("control_plane.address: %w", err)
	}
	s.meshConn = conn
	s.mesh = meshwatch.New(conn, s.cfg.TrustDomain, cp.Namespace, cp.Pod, s.log)
	s.policyNow, s.modeNow = s.mesh.Policy, s.mesh.Mode
	s.discovery, s.discoveryTable = s.mesh, s.mesh.Table
	// The injector moved the app's kubelet probes to the admin port, since
	// strict mode refuses the kubelet's plaintext.
	probes, err := apphealth.FromEnv()
	if err != nil {
		return fmt.Errorf("%s: %w", apphealth.EnvVar, err)
	}
	s.adminRoutes = map[string]http.Handler{"GET " + apphealth.PathPrefix: probes} // GET also matches HEAD
	return nil
}
