// Package agent holds a workload's identity: it obtains an X.509-SVID from
// the CA, renews it at half its lifetime, swaps it atomically, and serves it
// to the proxy (as an x509svid.Source) and to apps (the Workload API).
//
// States: no SVID → (join token, service-account token file or persisted
// SVID) → valid → renewing at ½ lifetime ± 10% → valid again. While the CA
// is unreachable the current SVID keeps serving and renewal retries with
// backoff; once it expires, the agent re-attests with its join token if that
// token is reusable. attestation.go says which proof each step uses.
package agent

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	cav1 "github.com/hopseal/hopseal/api/ca/v1"
	"github.com/hopseal/hopseal/internal/clock"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/tlsconf"
)

// Retry bounds while the CA is unreachable.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// Config configures an Agent.
type Config struct {
	TrustDomain spiffeid.TrustDomain
	// ExpectedID, when set, is the identity the agent must end up with.
	ExpectedID spiffeid.ID
	CAAddress  string
	// CARoots bootstrap trust in the CA before the first bundle arrives.
	CARoots   []*x509.Certificate
	JoinToken string
	// TokenFile is a projected Kubernetes service-account token (audience
	// hopseal) to attest with instead of a join token, at the start and at
	// every renewal; it is read afresh each time.
	TokenFile string
	// TTL is the requested SVID lifetime; 0 takes the CA's default.
	TTL time.Duration
	// DataDir, when set, keeps the SVID across restarts.
	DataDir string
	Clock   clock.Clock
	Log     *slog.Logger
}

// Agent is safe for concurrent use.
type Agent struct {
	cfg    Config
	clock  clock.Clock
	log    *slog.Logger
	svid   atomic.Pointer[x509svid.SVID]
	bundle atomic.Pointer[x509bundle.Bundle]
	renew  chan struct{}

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced on every update

	// creds authenticate the CA and present the current SVID, if any. A
	// handshake fixes the client certificate for the connection's life, so
	// every fetch dials afresh: renewal must present the SVID held now.
	creds credentials.TransportCredentials
}

// New returns an agent; Start obtains its first SVID.
func New(cfg Config) (*Agent, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.CARoots) == 0 {
		return nil, errors.New("agent: no CA roots to trust the CA with")
	}
	if cfg.JoinToken != "" && cfg.TokenFile != "" {
		return nil, errors.New("agent: both a join token and a service account token file are set; use one")
	}
	a := &Agent{cfg: cfg, clock: cfg.Clock, log: cfg.Log, renew: make(chan struct{}, 1), changed: make(chan struct{})}
	a.bundle.Store(x509bundle.FromX509Authorities(cfg.TrustDomain, cfg.CARoots))
	a.creds = credentials.NewTLS(tlsconf.Client(a, a, tlsconf.AuthorizeID(identity.CA(cfg.TrustDomain)), a.clock.Now))
	conn, err := a.dial() // checks the address now
	if err != nil {
		return nil, err
	}
	conn.Close()
	return a, nil
}

func (a *Agent) dial() (*grpc.ClientConn, error) {
	// No service config from DNS: hopseal needs none, and its TXT lookup
	// can stall a first attestation where DNS is slow or absent.
	conn, err := grpc.NewClient(a.cfg.CAAddress, grpc.WithTransportCredentials(a.creds), grpc.WithDisableServiceConfig())
	if err != nil {
		return nil, fmt.Errorf("agent: CA address %q: %w", a.cfg.CAAddress, err)
	}
	return conn, nil
}

// Close releases resources; connections to the CA last one request each.
func (a *Agent) Close() error { return nil }

// GetX509SVID returns the current SVID (x509svid.Source).
func (a *Agent) GetX509SVID() (*x509svid.SVID, error) {
	if s := a.svid.Load(); s != nil {
		return s, nil
	}
	return nil, errors.New("agent: no SVID yet")
}

// GetX509BundleForTrustDomain returns the current bundle (x509bundle.Source).
func (a *Agent) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	b := a.bundle.Load()
	if td != b.TrustDomain() {
		return nil, fmt.Errorf("agent: no bundle for trust domain %q", td)
	}
	return b, nil
}

// Bundle returns the current trust bundle.
func (a *Agent) Bundle() *x509bundle.Bundle { return a.bundle.Load() }

// Changed returns a channel closed at the next SVID or bundle update.
func (a *Agent) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// RenewNow asks the agent to renew at once (e.g. on SIGHUP).
func (a *Agent) RenewNow() {
	select {
	case a.renew <- struct{}{}:
	default:
	}
}

// Start obtains the first SVID: a persisted one if still valid, else by
// attesting with the join token or token file, retrying until ctx ends.
func (a *Agent) Start(ctx context.Context) error {
	if svid, bundle, err := a.load(); err == nil {
		a.set(svid, bundle)
		a.log.Info("loaded SVID from data directory", "spiffe_id", svid.ID.String(), "not_after", svid.Certificates[0].NotAfter)
		return nil
	} else if a.cfg.DataDir != "" {
		a.log.Info("no usable SVID in data directory", "reason", err.Error())
	}
	backoff := minBackoff
	for {
		att, err := a.attestation()
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if err = a.fetch(ctx, att); err == nil {
			return nil
		}
		if permanent(err) {
			return a.refusal(err)
		}
		a.log.Warn("CA unreachable or unable to attest; retrying", "err", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(jitter(backoff)):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Run renews the SVID until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		wait := a.untilRenewal()
		if backoff > 0 {
			wait = jitter(backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.renew:
		case <-a.clock.After(wait):
		}
		if err := a.renewOnce(ctx); err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			svid, _ := a.GetX509SVID()
			left := svid.Certificates[0].NotAfter.Sub(a.clock.Now())
			a.log.Warn("SVID renewal failed; still serving the current SVID", "err", err.Error(), "time_to_expiry", left.Round(time.Second).String(), "retry_in", backoff.String())
			continue
		}
		backoff = 0
	}
}

func (a *Agent) renewOnce(ctx context.Context) error {
	att, err := a.renewal()
	if err != nil {
		return err
	}
	return a.fetch(ctx, att)
}

// untilRenewal is the wait until ½ of the lifetime ± 10%.
func (a *Agent) untilRenewal() time.Duration {
	svid, _ := a.GetX509SVID()
	leaf := svid.Certificates[0]
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	frac := 0.45 + 0.1*mrand.Float64()
	return leaf.NotBefore.Add(time.Duration(float64(life) * frac)).Sub(a.clock.Now())
}

// fetch asks the CA for a new SVID with a fresh key.
func (a *Agent) fetch(ctx context.Context, att *cav1.Attestation) error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return fmt.Errorf("create CSR: %w", err)
	}
	conn, err := a.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := cav1.NewIssuerClient(conn).SignX509SVID(ctx, &cav1.SignX509SVIDRequest{Csr: csr, Attestation: att, TtlSeconds: int64(a.cfg.TTL / time.Second)})
	if err != nil {
		return err
	}
	chain, err := pki.ParseDERCerts(resp.GetCertChain())
	if err != nil {
		return err
	}
	roots, err := pki.ParseDERCerts(resp.GetBundle())
	if err != nil {
		return err
	}
	if len(chain) == 0 || !pki.PublicKeysEqual(chain[0].PublicKey, key.Public()) {
		return errors.New("CA returned a certificate for another key")
	}
	bundle := x509bundle.FromX509Authorities(a.cfg.TrustDomain, roots)
	id, err := pki.VerifySVID(chain, bundle, x509.ExtKeyUsageClientAuth, a.clock.Now())
	if err != nil {
		return fmt.Errorf("CA returned an unusable SVID: %w", err)
	}
	if !a.cfg.ExpectedID.IsZero() && id != a.cfg.ExpectedID {
		fix := "fix spiffe_id or the join token"
		if a.cfg.TokenFile != "" {
			fix = "the service account token is another workload's than the one configured (on Kubernetes: the pod's namespace and service account)"
		}
		return &permanentError{fmt.Errorf("CA granted %s but this workload is configured as %s; %s", id, a.cfg.ExpectedID, fix)}
	}
	svid := &x509svid.SVID{ID: id, Certificates: chain, PrivateKey: key}
	a.set(svid, bundle)
	if err := a.save(svid, bundle); err != nil {
		a.log.Error("persist SVID", "err", err.Error())
	}
	a.log.Info("SVID updated", "spiffe_id", id.String(), "serial", pki.SerialString(chain[0].SerialNumber), "not_after", chain[0].NotAfter, "attestation", att.GetType())
	return nil
}

func (a *Agent) set(svid *x509svid.SVID, bundle *x509bundle.Bundle) {
	a.bundle.Store(bundle)
	a.svid.Store(svid)
	a.mu.Lock()
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}
