// Package ca is hopseal's certificate authority: it attests callers, signs
// X.509-SVIDs for exactly the attested identity, and records everything.
package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/store"
)

// Lifetime bounds for X.509-SVIDs.
const (
	DefaultSVIDTTL = 24 * time.Hour
	MinSVIDTTL     = 5 * time.Minute
)

// Events receives issuance outcomes, for metrics.
type Events interface {
	Issued(id spiffeid.ID, attestation string)
	Denied(attestation, reason string)
}

// Config assembles a CA.
type Config struct {
	Authority *Authority
	Store     *store.Store
	Clock     clock.Clock
	// SVIDTTL is the default and maximum lifetime of issued SVIDs.
	SVIDTTL time.Duration
	Events  Events
	Log     *slog.Logger
	// Attestors are accepted besides join_token and x509_svid (e.g.
	// k8s_psat in cluster mode); one per type.
	Attestors []attest.Attestor
	// NoSVIDRenewal refuses x509_svid renewals: every SVID then needs a
	// fresh proof (k8s_psat in cluster mode), so an identity ends with its
	// pod or service account, and a copied SVID key cannot renew itself.
	NoSVIDRenewal bool
}

// CA signs SVIDs. It is safe for concurrent use.
type CA struct {
	auth      *Authority
	store     *store.Store
	clock     clock.Clock
	ttl       time.Duration
	events    Events
	log       *slog.Logger
	attestors map[string]attest.Attestor
	limiter   *failureLimiter
}

// SignRequest is an issuance request as received from a caller.
type SignRequest struct {
	CSR         []byte
	Attestation attest.Request
	TTL         time.Duration // 0 for the default
	Peer        string        // caller's address, for the audit log and rate limiting
}

// Issued is a signed SVID chain and the bundle it chains to.
type Issued struct {
	ID    spiffeid.ID
	Chain []*x509.Certificate // leaf, signing CA, the signing CA's chain
	Roots []*x509.Certificate
}

// Error is a refusal to sign. Msg is safe to send to the caller; Err, if
// set, is the internal cause, for the log only.
type Error struct {
	Kind ErrorKind
	Msg  string
	Err  error
}

// ErrorKind says why a request was refused.
type ErrorKind int

const (
	Invalid ErrorKind = iota + 1
	Denied
	RateLimited
	// Unavailable: the proof could not be checked now; retrying may succeed.
	Unavailable
)

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// New returns a CA with the join-token attestor, the SVID-renewal one
// unless NoSVIDRenewal, and any others the config adds.
func New(cfg Config) (*CA, error) {
	if cfg.SVIDTTL == 0 {
		cfg.SVIDTTL = DefaultSVIDTTL
	}
	if cfg.SVIDTTL < MinSVIDTTL {
		return nil, fmt.Errorf("ca: SVID lifetime %s is below the %s minimum", cfg.SVIDTTL, MinSVIDTTL)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &CA{
		auth: cfg.Authority, store: cfg.Store, clock: cfg.Clock, ttl: cfg.SVIDTTL,
		events: cfg.Events, log: cfg.Log, limiter: newFailureLimiter(),
	}
	c.attestors = map[string]attest.Attestor{}
	builtin := []attest.Attestor{attest.JoinToken{Store: cfg.Store, TrustDomain: cfg.Authority.TrustDomain, Now: c.clock.Now}}
	if !cfg.NoSVIDRenewal {
		builtin = append(builtin, attest.X509SVID{Bundles: c, Now: c.clock.Now})
	}
	for _, a := range append(builtin, cfg.Attestors...) {
		if _, dup := c.attestors[a.Type()]; dup {
			return nil, fmt.Errorf("ca: two attestors of type %q", a.Type())
		}
		c.attestors[a.Type()] = a
	}
	return c, nil
}

// TrustDomain is the CA's trust domain.
func (c *CA) TrustDomain() spiffeid.TrustDomain { return c.auth.TrustDomain }

// Bundle is the trust bundle: the roots.
func (c *CA) Bundle() *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(c.auth.TrustDomain, c.auth.Roots)
}

// GetX509BundleForTrustDomain makes the CA an x509bundle.Source for its own domain.
func (c *CA) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if td != c.auth.TrustDomain {
		return nil, fmt.Errorf("ca: no bundle for trust domain %q", td)
	}
	return c.Bundle(), nil
}

// Sign attests the caller and signs its CSR for the granted identity.
func (c *CA) Sign(ctx context.Context, req SignRequest) (*Issued, error) {
	host := hostOf(req.Peer)
	if wait, limited := c.limiter.blocked(host, c.clock.Now()); limited {
		// Logged and counted, but not audited: a flood must not fill the disk.
		c.log.Warn("refused SVID request: rate limited", "peer", req.Peer, "retry_in", wait.Round(time.Second).String())
		if c.events != nil {
			c.events.Denied(req.Attestation.Type, "rate_limited")
		}
		return nil, &Error{Kind: RateLimited, Msg: fmt.Sprintf("too many failed requests from %s; retry in %s", host, wait.Round(time.Second))}
	}
	issued, err := c.sign(ctx, req)
	if err != nil {
		c.refuse(req, err)
		return nil, err
	}
	return issued, nil
}

func (c *CA) sign(ctx context.Context, req SignRequest) (*Issued, error) {
	csr, err := pki.CheckCSR(req.CSR)
	if err != nil {
		return nil, &Error{Kind: Invalid, Msg: err.Error()}
	}
	ttl, err := c.lifetime(req.TTL)
	if err != nil {
		return nil, err
	}
	a, ok := c.attestors[req.Attestation.Type]
	if !ok {
		return nil, &Error{Kind: Invalid, Msg: fmt.Sprintf("unknown attestation type %q (want one of %q)", req.Attestation.Type, slices.Sorted(maps.Keys(c.attestors)))}
	}
	grant, err := a.Attest(ctx, req.Attestation)
	var denied *attest.DeniedError
	if errors.As(err, &denied) {
		return nil, &Error{Kind: Denied, Msg: denied.Public}
	}
	var unavailable *attest.UnavailableError
	if errors.As(err, &unavailable) {
		return nil, &Error{Kind: Unavailable, Msg: unavailable.Public, Err: unavailable}
	}
	if err != nil {
		return nil, fmt.Errorf("attest %s: %w", a.Type(), err)
	}
	if grant.ID == identity.CA(c.auth.TrustDomain) {
		// The CA authenticates itself to agents with this identity.
		return nil, &Error{Kind: Denied, Msg: fmt.Sprintf("%s is the CA's own identity and is never granted", grant.ID)}
	}
	if err := pki.CheckCSRIdentity(csr, grant.ID); err != nil {
		return nil, &Error{Kind: Denied, Msg: err.Error()}
	}
	now := c.clock.Now()
	leaf, err := pki.NewLeaf(pki.LeafRequest{ID: grant.ID, PublicKey: csr.PublicKey, TTL: ttl}, c.auth.Signing, c.auth.SigningKey, now)
	if err != nil {
		return nil, fmt.Errorf("sign SVID for %s: %w", grant.ID, err)
	}
	serial := pki.SerialString(leaf.SerialNumber)
	rec := store.CertRecord{
		Serial: serial, SPIFFEID: grant.ID.String(), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		IssuedAt: now, Requester: req.Peer, Attestation: grant.Evidence,
	}
	ev := store.Event{Time: now, Kind: store.EventIssued, SPIFFEID: grant.ID.String(), Serial: serial, Requester: req.Peer, Attestation: grant.Evidence}
	if err := c.store.RecordIssued(rec, ev); err != nil {
		// Unrecorded certificates are never handed out.
		return nil, fmt.Errorf("record SVID %s: %w", serial, err)
	}
	c.log.Info("issued SVID", "spiffe_id", grant.ID.String(), "serial", serial, "not_after", leaf.NotAfter, "attestation", grant.Evidence, "peer", req.Peer)
	if c.events != nil {
		c.events.Issued(grant.ID, a.Type())
	}
	return &Issued{ID: grant.ID, Chain: c.auth.chain(leaf), Roots: c.auth.Roots}, nil
}

// refuse audits a refusal and counts it against the caller, unless the
// caller was not at fault (the attestor could not check its proof).
func (c *CA) refuse(req SignRequest, err error) {
	reason := err.Error()
	var denied *attest.DeniedError
	var e *Error
	switch {
	case errors.As(err, &denied):
		reason = denied.Reason
	case errors.As(err, &e) && e.Err != nil:
		reason = e.Err.Error()
	}
	if kind(err) != Unavailable {
		c.limiter.fail(hostOf(req.Peer), c.clock.Now())
	}
	ev := store.Event{Time: c.clock.Now(), Kind: store.EventDenied, Requester: req.Peer, Attestation: req.Attestation.Type, Reason: reason}
	if aerr := c.store.Append(ev); aerr != nil {
		c.log.Error("audit log write failed", "err", aerr)
	}
	c.log.Warn("refused SVID request", "peer", req.Peer, "attestation", req.Attestation.Type, "reason", reason)
	if c.events != nil {
		c.events.Denied(req.Attestation.Type, kindName(err))
	}
}

func (c *CA) lifetime(requested time.Duration) (time.Duration, error) {
	switch {
	case requested == 0:
		return c.ttl, nil
	case requested < MinSVIDTTL:
		return 0, &Error{Kind: Invalid, Msg: fmt.Sprintf("requested lifetime %s is below the %s minimum", requested, MinSVIDTTL)}
	case requested > c.ttl:
		return c.ttl, nil
	}
	return requested, nil
}

func kind(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func kindName(err error) string {
	switch kind(err) {
	case Invalid:
		return "invalid"
	case Denied:
		return "denied"
	case RateLimited:
		return "rate_limited"
	case Unavailable:
		return "unavailable"
	}
	return "internal"
}

// IssueServerCert signs a TLS server certificate for DNS names with the
// signing CA and returns it with its chain (see pki.NewServerCert). It is
// for the controller's own endpoints, never for workloads, so it is not
// attested or audited.
func (c *CA) IssueServerCert(dnsNames []string, pub crypto.PublicKey, ttl time.Duration) ([]*x509.Certificate, error) {
	leaf, err := pki.NewServerCert(dnsNames, pub, ttl, c.auth.Signing, c.auth.SigningKey, c.clock.Now())
	if err != nil {
		return nil, err
	}
	return c.auth.chain(leaf), nil
}
