package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// ACMETLS1 is the ALPN protocol of TLS-ALPN-01 challenges. A listener
// serving an ACMESource must offer it in tls.Config.NextProtos (after its
// own protocols) and close a connection that negotiated it once the
// handshake is done: the challenge is answered by the handshake alone.
const ACMETLS1 = "acme-tls/1"

// ACME configures an ACMESource.
type ACME struct {
	DirectoryURL string   // the CA's ACME directory (https)
	Email        string   // optional account contact for expiry notices
	CARootsFile  string   // optional PEM roots for the directory's HTTPS; empty: the system roots
	StorageDir   string   // account key, certificates and keys (files 0600, directories 0700)
	Hostnames    []string // exact DNS names; certificates are obtained only for these
	// The ports of the gateway's listeners that answer challenges, as seen
	// on this host. TLSALPNPort: the TLS listener whose tls.Config takes
	// GetCertificate and offers ACMETLS1. HTTPPort: the listener that mounts
	// HTTPHandler. Zero disables that challenge; at least one is required.
	// The listeners must be open before Run: a port nothing listens on is
	// bound by the ACME client itself for the challenge's duration.
	TLSALPNPort int
	HTTPPort    int
}

// ACMESource obtains and renews certificates for its hostnames from an
// ACME directory and serves them through GetCertificate. Configuring a
// directory accepts its CA's terms of service.
type ACMESource struct {
	cfg   ACME
	roots *x509.CertPool
	log   *slog.Logger
	run   atomic.Pointer[acmeRun] // set while Run runs

	// Renewal timing for tests; zero means certmagic's defaults (checks
	// every 10 minutes, renewal in the last third of the lifetime, or
	// when the CA's renewal information says so).
	renewCheck time.Duration
	renewRatio float64
}

// acmeRun is what Run builds: certmagic's cache starts a goroutine, so it
// exists only while Run does.
type acmeRun struct {
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
}

// NewACME checks cfg and prepares the storage directory. Nothing is
// obtained until Run. A nil log discards.
func NewACME(cfg ACME, log *slog.Logger) (*ACMESource, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.Hostnames = slices.Clone(cfg.Hostnames)
	for i, h := range cfg.Hostnames {
		cfg.Hostnames[i] = strings.ToLower(h)
	}
	a := &ACMESource{cfg: cfg, log: log.With("acme_directory", cfg.DirectoryURL)}
	if cfg.CARootsFile != "" {
		pem, err := os.ReadFile(cfg.CARootsFile)
		if err != nil {
			return nil, fmt.Errorf("certs: read the ACME CA roots file: %w", err)
		}
		a.roots = x509.NewCertPool()
		if !a.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("certs: ACME CA roots file %s holds no PEM certificate", cfg.CARootsFile)
		}
	}
	if err := os.MkdirAll(cfg.StorageDir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: ACME storage directory: %w", err)
	}
	return a, nil
}

// check validates cfg without changing it.
func (cfg ACME) check() error {
	u, err := url.Parse(cfg.DirectoryURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("certs: ACME directory URL %q must be an https:// URL such as https://acme-v02.api.letsencrypt.org/directory", cfg.DirectoryURL)
	}
	if cfg.StorageDir == "" {
		return errors.New("certs: ACME needs a storage directory for its account and certificates")
	}
	if len(cfg.Hostnames) == 0 {
		return errors.New("certs: ACME needs at least one hostname")
	}
	for _, h := range cfg.Hostnames {
		if err := checkHostname(h); err != nil {
			return err
		}
	}
	if cfg.TLSALPNPort == 0 && cfg.HTTPPort == 0 {
		return errors.New("certs: ACME needs a challenge port: the TLS listener's (TLS-ALPN-01) or the HTTP redirect listener's (HTTP-01)")
	}
	for _, p := range []int{cfg.TLSALPNPort, cfg.HTTPPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("certs: ACME challenge port %d is out of range", p)
		}
	}
	return nil
}

func checkHostname(h string) error {
	switch {
	case strings.Contains(h, "*"):
		return fmt.Errorf("certs: ACME hostname %q: wildcard certificates need the DNS-01 challenge, which hopseal does not do; list each hostname or use certificate files", h)
	case net.ParseIP(h) != nil:
		return fmt.Errorf("certs: ACME hostname %q is an IP address; clients send SNI only for DNS names", h)
	case !certmagic.SubjectQualifiesForCert(h) || !strings.Contains(h, "."):
		return fmt.Errorf("certs: ACME hostname %q is not a fully qualified DNS name", h)
	}
	return nil
}

// Run obtains missing certificates, loads stored ones, and renews them
// until ctx ends. A failure to obtain is logged and retried with backoff;
// it does not end Run.
func (a *ACMESource) Run(ctx context.Context) error {
	r := a.start()
	if !a.run.CompareAndSwap(nil, r) {
		r.cache.Stop()
		return errors.New("certs: ACMESource.Run called twice")
	}
	defer func() {
		a.run.Store(nil)
		r.cache.Stop()
	}()
	if err := r.magic.ManageAsync(ctx, a.cfg.Hostnames); err != nil {
		return fmt.Errorf("certs: manage ACME certificates: %w", err)
	}
	a.log.Info("ACME certificates managed", "hostnames", a.cfg.Hostnames)
	<-ctx.Done()
	return nil
}

func (a *ACMESource) start() *acmeRun {
	logger := zapToSlog(a.log)
	r := &acmeRun{}
	r.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return r.magic, nil },
		RenewCheckInterval: a.renewCheck,
		Logger:             logger,
	})
	r.magic = certmagic.New(r.cache, certmagic.Config{
		Storage:            &certmagic.FileStorage{Path: a.cfg.StorageDir},
		RenewalWindowRatio: a.renewRatio,
		Logger:             logger,
	})
	r.issuer = certmagic.NewACMEIssuer(r.magic, certmagic.ACMEIssuer{
		CA:                      a.cfg.DirectoryURL,
		Email:                   a.cfg.Email,
		Agreed:                  true,
		TrustedRoots:            a.roots,
		DisableHTTPChallenge:    a.cfg.HTTPPort == 0,
		DisableTLSALPNChallenge: a.cfg.TLSALPNPort == 0,
		AltHTTPPort:             a.cfg.HTTPPort,
		AltTLSALPNPort:          a.cfg.TLSALPNPort,
		Logger:                  logger,
	})
	r.magic.Issuers = []certmagic.Issuer{r.issuer}
	return r
}

// GetCertificate answers TLS-ALPN-01 challenges and serves the certificate
// for the hello's SNI. A hostname without a certificate (not configured,
// not obtained yet, or Run not running) is an error, so the handshake
// fails with an alert.
func (a *ACMESource) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	r := a.run.Load()
	if r == nil {
		return nil, errors.New("certs: ACME certificates are not loaded (Run is not running)")
	}
	if hello.Conn == nil {
		return nil, errors.New("certs: GetCertificate needs the ClientHelloInfo of a handshake (its Conn is nil)")
	}
	name := strings.ToLower(hello.ServerName)
	if !slices.Contains(a.cfg.Hostnames, name) {
		return nil, fmt.Errorf("certs: no ACME certificate is configured for %q", hello.ServerName)
	}
	c, err := r.magic.GetCertificate(hello)
	if err != nil {
		return nil, fmt.Errorf("certs: no ACME certificate for %q yet: %w", name, err)
	}
	return c, nil
}

// HTTPHandler answers HTTP-01 challenges for this source's hostnames and
// passes every other request to next (such as the HTTPS redirect).
func (a *ACMESource) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r := a.run.Load(); r != nil && a.serves(req.Host) && r.issuer.HandleHTTPChallenge(w, req) {
			return
		}
		next.ServeHTTP(w, req)
	})
}

func (a *ACMESource) serves(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return slices.Contains(a.cfg.Hostnames, strings.ToLower(host))
}

// Certificates describes the certificates in force, one per hostname that
// has one.
func (a *ACMESource) Certificates() []Info {
	r := a.run.Load()
	if r == nil {
		return nil
	}
	var out []Info
	for _, h := range a.cfg.Hostnames {
		for _, c := range r.cache.AllMatchingCertificates(h) {
			if c.Leaf != nil && slices.Contains(c.Leaf.DNSNames, h) {
				out = append(out, InfoOf(c.Leaf))
				break
			}
		}
	}
	return out
}
