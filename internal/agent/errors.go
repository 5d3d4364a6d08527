package agent

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hopseal/hopseal/internal/ca/attest"
)

type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

// permanent reports whether retrying cannot help: the CA refused us, as
// opposed to being unreachable.
func permanent(err error) bool {
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.InvalidArgument, codes.Unauthenticated:
		return true
	}
	return false
}

// refusal explains a failed first attestation without gRPC's wrapping.
func (a *Agent) refusal(err error) error {
	var p *permanentError
	if errors.As(err, &p) {
		return fmt.Errorf("agent: %w", p.error)
	}
	s, _ := status.FromError(err)
	if a.cfg.TokenFile != "" {
		return fmt.Errorf("agent: the CA refused the service account token in %s: %s; it must be a projected token for audience %q "+
			"of a pod and service account that still exist", a.cfg.TokenFile, s.Message(), attest.DefaultAudience)
	}
	return fmt.Errorf("agent: the CA refused the join token: %s; create a new one with `hopseal ca token create` "+
		"(a single-use token is spent by its first use; with data_dir set, a restarted proxy renews with its saved SVID instead)", s.Message())
}
