package ca

import (
	"context"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/store"
)

// Join token lifetime bounds.
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 365 * 24 * time.Hour
)

// Admin is what operators do with a CA. The CLI reaches it through the
// running server's admin socket, or directly on the store when no server runs.
type Admin interface {
	CreateJoinToken(ctx context.Context, id spiffeid.ID, ttl time.Duration, reusable bool) (token string, expires time.Time, err error)
	Certificates(ctx context.Context) ([]store.CertRecord, error)
	AuditEvents(ctx context.Context) ([]store.Event, error)
}

// LocalAdmin administers a CA through its store.
type LocalAdmin struct {
	Store       *store.Store
	TrustDomain spiffeid.TrustDomain
	Clock       clock.Clock
}

func (a LocalAdmin) CreateJoinToken(_ context.Context, id spiffeid.ID, ttl time.Duration, reusable bool) (string, time.Time, error) {
	if err := CheckTokenRequest(a.TrustDomain, id, ttl); err != nil {
		return "", time.Time{}, err
	}
	token, hash, err := attest.NewJoinToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := a.Clock.Now()
	tok := store.JoinToken{Hash: hash, SPIFFEID: id.String(), CreatedAt: now, ExpiresAt: now.Add(ttl), Reusable: reusable}
	evidence := "join_token:" + hash[:8]
	if reusable {
		evidence += " (reusable)"
	}
	ev := store.Event{Time: now, Kind: store.EventTokenCreated, SPIFFEID: id.String(), Attestation: evidence, Reason: "expires " + tok.ExpiresAt.UTC().Format(time.RFC3339)}
	if err := a.Store.CreateJoinToken(tok, ev); err != nil {
		return "", time.Time{}, err
	}
	return token, tok.ExpiresAt, nil
}

func (a LocalAdmin) Certificates(context.Context) ([]store.CertRecord, error) {
	return a.Store.Certificates()
}

func (a LocalAdmin) AuditEvents(context.Context) ([]store.Event, error) { return a.Store.Events() }

// CheckTokenRequest validates a join token request; errors name the flag.
func CheckTokenRequest(td spiffeid.TrustDomain, id spiffeid.ID, ttl time.Duration) error {
	switch {
	case !id.MemberOf(td):
		return fmt.Errorf("--spiffe-id %s is outside this CA's trust domain %s; use spiffe://%s/...", id, td, td)
	case id == identity.CA(td):
		return fmt.Errorf("--spiffe-id %s is the CA's own identity and cannot be granted", id)
	case ttl < time.Minute:
		return fmt.Errorf("--ttl %s is too short; use at least 1m", ttl)
	case ttl > MaxTokenTTL:
		return fmt.Errorf("--ttl %s is too long; use at most %s", ttl, MaxTokenTTL)
	}
	return nil
}
