// Package attest proves who is asking the CA for a certificate. Each way of
// proving it is one Attestor in its own file; the CA signs only the identity
// an attestor grants, never one taken from the request.
package attest

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Request is what a caller presents.
type Request struct {
	Type    string
	Payload []byte
	// PeerCertificates is the TLS client certificate chain, if one was sent.
	PeerCertificates []*x509.Certificate
}

// Grant is the identity an attestor vouches for.
type Grant struct {
	ID spiffeid.ID
	// Evidence describes the proof for the audit log, without secrets
	// (e.g. "join_token:5f1c9a20", "x509_svid:3A9F…").
	Evidence string
}

// Attestor verifies one kind of attestation.
type Attestor interface {
	Type() string
	Attest(ctx context.Context, req Request) (Grant, error)
}

// DeniedError is a refused attestation. Reason is for the audit log; the
// caller only learns Public.
type DeniedError struct {
	Public string
	Reason string
}

func (e *DeniedError) Error() string { return fmt.Sprintf("attestation denied: %s", e.Reason) }

func denied(public, format string, args ...any) error {
	return &DeniedError{Public: public, Reason: fmt.Sprintf(format, args...)}
}

// UnavailableError means the attestor could not check the proof now (the
// service it asks is down or refuses the CA): not a denial, so the caller may
// retry. Public is safe to send; Err stays in the CA's log.
type UnavailableError struct {
	Public string
	Err    error
}

func (e *UnavailableError) Error() string { return fmt.Sprintf("attestation unavailable: %v", e.Err) }

func (e *UnavailableError) Unwrap() error { return e.Err }
