package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	cav1 "github.com/hopseal/hopseal/api/ca/v1"
	"github.com/hopseal/hopseal/internal/ca/attest"
	"github.com/hopseal/hopseal/internal/identity"
	"github.com/hopseal/hopseal/internal/pki"
	"github.com/hopseal/hopseal/internal/store"
)

// servingTTL is the lifetime of the CA's own serving certificate.
const servingTTL = 24 * time.Hour

// BundleRefreshHint tells bundle consumers how often to poll.
const BundleRefreshHint = 5 * time.Minute

// Listeners are where a Server serves; Bundle and Admin may be nil.
type Listeners struct {
	Issuer net.Listener // gRPC Issuer over TLS
	Bundle net.Listener // HTTPS SPIFFE bundle endpoint
	Admin  net.Listener // gRPC Admin, plaintext on a private unix socket
	// Register adds services to the Issuer's gRPC server (the controller's
	// mesh stream). Client certificates there are requested, not verified:
	// such a service must verify them itself.
	Register func(grpc.ServiceRegistrar)
}

// Server exposes a CA on the network.
type Server struct {
	ca      *CA
	admin   Admin
	log     *slog.Logger
	serving atomic.Pointer[x509svid.SVID]
}

// NewServer returns a server for c, administered through admin.
func NewServer(c *CA, admin Admin, log *slog.Logger) *Server {
	return &Server{ca: c, admin: admin, log: log}
}

// GetX509SVID returns the CA's serving identity.
func (s *Server) GetX509SVID() (*x509svid.SVID, error) {
	if v := s.serving.Load(); v != nil {
		return v, nil
	}
	return nil, errors.New("ca: no serving certificate yet")
}

// Serve runs until ctx ends, then stops gracefully.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	if err := s.renewServing(); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.rotateServing(ctx) })

	creds := credentials.NewTLS(tlsServerConfig(s, s.ca.clock.Now))
	issuer := grpc.NewServer(grpc.Creds(creds), grpc.MaxRecvMsgSize(64<<10))
	cav1.RegisterIssuerServer(issuer, &issuerService{ca: s.ca, log: s.log})
	if ls.Register != nil {
		ls.Register(issuer)
	}
	serveGRPC(ctx, g, issuer, ls.Issuer)

	if ls.Admin != nil {
		admin := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 10))
		cav1.RegisterAdminServer(admin, &adminService{admin: s.admin, td: s.ca.TrustDomain()})
		serveGRPC(ctx, g, admin, ls.Admin)
	}
	if ls.Bundle != nil {
		h, err := s.bundleHandler()
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsServerConfig(s, s.ca.clock.Now)}
		g.Go(func() error {
			err := srv.ServeTLS(ls.Bundle, "", "")
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	return g.Wait()
}

func tlsServerConfig(s *Server, now func() time.Time) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			svid, err := s.GetX509SVID()
			if err != nil {
				return nil, err
			}
			cert := &tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
			for _, c := range svid.Certificates {
				cert.Certificate = append(cert.Certificate, c.Raw)
			}
			return cert, nil
		},
		Time: now,
	}
	return c
}

func serveGRPC(ctx context.Context, g *errgroup.Group, srv *grpc.Server, ln net.Listener) {
	g.Go(func() error {
		// A stop that wins the race with Serve is a clean shutdown too.
		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		done := make(chan struct{})
		go func() { srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
		return nil
	})
}

// renewServing issues the CA's own serving SVID straight from the signing CA.
func (s *Server) renewServing() error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	id := identity.CA(s.ca.TrustDomain())
	now := s.ca.clock.Now()
	leaf, err := pki.NewLeaf(pki.LeafRequest{ID: id, PublicKey: key.Public(), TTL: servingTTL}, s.ca.auth.Signing, s.ca.auth.SigningKey, now)
	if err != nil {
		return fmt.Errorf("ca: issue serving certificate: %w", err)
	}
	serial := pki.SerialString(leaf.SerialNumber)
	rec := store.CertRecord{Serial: serial, SPIFFEID: id.String(), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, IssuedAt: now, Requester: "ca", Attestation: "self"}
	ev := store.Event{Time: now, Kind: store.EventIssued, SPIFFEID: id.String(), Serial: serial, Requester: "ca", Attestation: "self"}
	if err := s.ca.store.RecordIssued(rec, ev); err != nil {
		return fmt.Errorf("ca: record serving certificate: %w", err)
	}
	s.serving.Store(&x509svid.SVID{ID: id, Certificates: s.ca.auth.chain(leaf), PrivateKey: key})
	return nil
}

func (s *Server) rotateServing(ctx context.Context) error {
	for {
		svid, _ := s.GetX509SVID()
		leaf := svid.Certificates[0]
		half := leaf.NotAfter.Sub(leaf.NotBefore) / 2
		wait := leaf.NotBefore.Add(half).Sub(s.ca.clock.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-s.ca.clock.After(wait):
		}
		if err := s.renewServing(); err != nil {
			s.log.Error("renew CA serving certificate", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-s.ca.clock.After(time.Duration(rand.Int64N(int64(30 * time.Second)))):
			}
		}
	}
}

func (s *Server) bundleHandler() (http.Handler, error) {
	td := s.ca.TrustDomain()
	jwks, err := federation.NewHandler(td, s.ca)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", jwks)
	mux.HandleFunc("GET /bundle.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(pki.EncodeCerts(s.ca.auth.Roots...))
	})
	return mux, nil
}

// GetBundleForTrustDomain makes the CA a spiffebundle.Source.
func (c *CA) GetBundleForTrustDomain(td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	if td != c.auth.TrustDomain {
		return nil, fmt.Errorf("ca: no bundle for trust domain %q", td)
	}
	return c.SPIFFEBundle(), nil
}

// SPIFFEBundle is the trust bundle in SPIFFE format, for the bundle endpoint.
func (c *CA) SPIFFEBundle() *spiffebundle.Bundle { return SPIFFEBundleOf(c.auth) }

// SPIFFEBundleOf is an authority's trust bundle in SPIFFE format.
func SPIFFEBundleOf(a *Authority) *spiffebundle.Bundle {
	b := spiffebundle.FromX509Authorities(a.TrustDomain, a.Roots)
	b.SetRefreshHint(BundleRefreshHint)
	b.SetSequenceNumber(uint64(len(a.Roots)))
	return b
}

type issuerService struct {
	cav1.UnimplementedIssuerServer
	ca  *CA
	log *slog.Logger
}

func (s *issuerService) SignX509SVID(ctx context.Context, req *cav1.SignX509SVIDRequest) (*cav1.SignX509SVIDResponse, error) {
	var peerAddr string
	var peerCerts []*x509.Certificate
	if p, ok := peer.FromContext(ctx); ok {
		peerAddr = p.Addr.String()
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			peerCerts = info.State.PeerCertificates
		}
	}
	att := attest.Request{PeerCertificates: peerCerts}
	if a := req.GetAttestation(); a != nil {
		att.Type, att.Payload = a.GetType(), a.GetPayload()
	}
	issued, err := s.ca.Sign(ctx, SignRequest{CSR: req.GetCsr(), Attestation: att, TTL: time.Duration(req.GetTtlSeconds()) * time.Second, Peer: peerAddr})
	if err != nil {
		return nil, s.status(err)
	}
	resp := &cav1.SignX509SVIDResponse{SpiffeId: issued.ID.String()}
	for _, c := range issued.Chain {
		resp.CertChain = append(resp.CertChain, c.Raw)
	}
	for _, c := range issued.Roots {
		resp.Bundle = append(resp.Bundle, c.Raw)
	}
	return resp, nil
}

// status maps a refusal to a gRPC status; internal causes stay in the log.
func (s *issuerService) status(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		s.log.Error("SVID request failed", "err", err)
		return status.Error(codes.Internal, "internal error; see the CA's log")
	}
	switch e.Kind {
	case Invalid:
		return status.Error(codes.InvalidArgument, e.Msg)
	case Denied:
		return status.Error(codes.PermissionDenied, e.Msg)
	case Unavailable:
		return status.Error(codes.Unavailable, e.Msg)
	default:
		return status.Error(codes.ResourceExhausted, e.Msg)
	}
}

func (s *issuerService) GetBundle(context.Context, *cav1.GetBundleRequest) (*cav1.GetBundleResponse, error) {
	b := s.ca.SPIFFEBundle()
	seq, _ := b.SequenceNumber()
	resp := &cav1.GetBundleResponse{TrustDomain: s.ca.TrustDomain().Name(), Sequence: seq}
	for _, c := range b.X509Authorities() {
		resp.Roots = append(resp.Roots, c.Raw)
	}
	return resp, nil
}
