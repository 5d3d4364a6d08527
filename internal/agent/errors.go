package agent

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
