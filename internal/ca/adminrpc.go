package ca

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	cav1 "github.com/hopseal/hopseal/api/ca/v1"
	"github.com/hopseal/hopseal/internal/store"
)

// adminService serves Admin on the CA's unix socket.
type adminService struct {
	cav1.UnimplementedAdminServer
	admin Admin
	td    spiffeid.TrustDomain
}

func (s *adminService) CreateJoinToken(ctx context.Context, req *cav1.CreateJoinTokenRequest) (*cav1.CreateJoinTokenResponse, error) {
	id, err := spiffeid.FromString(req.GetSpiffeId())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "--spiffe-id %q: %v", req.GetSpiffeId(), err)
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	if err := CheckTokenRequest(s.td, id, ttl); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	token, expires, err := s.admin.CreateJoinToken(ctx, id, ttl, req.GetReusable())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &cav1.CreateJoinTokenResponse{Token: token, ExpiresUnix: expires.Unix()}, nil
}

func (s *adminService) ListCertificates(ctx context.Context, _ *cav1.ListCertificatesRequest) (*cav1.ListCertificatesResponse, error) {
	recs, err := s.admin.Certificates(ctx)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp := &cav1.ListCertificatesResponse{}
	for _, r := range recs {
		resp.Certificates = append(resp.Certificates, &cav1.Certificate{
			Serial: r.Serial, SpiffeId: r.SPIFFEID, NotBeforeUnix: r.NotBefore.Unix(), NotAfterUnix: r.NotAfter.Unix(),
			IssuedUnix: r.IssuedAt.Unix(), Requester: r.Requester, Attestation: r.Attestation,
		})
	}
	return resp, nil
}

func (s *adminService) ListAuditEvents(ctx context.Context, _ *cav1.ListAuditEventsRequest) (*cav1.ListAuditEventsResponse, error) {
	events, err := s.admin.AuditEvents(ctx)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp := &cav1.ListAuditEventsResponse{}
	for _, e := range events {
		resp.Events = append(resp.Events, &cav1.AuditEvent{
			Sequence: e.Seq, TimeUnixNano: e.Time.UnixNano(), Kind: e.Kind, SpiffeId: e.SPIFFEID, Serial: e.Serial,
			Requester: e.Requester, Attestation: e.Attestation, Reason: e.Reason, Hash: e.Hash,
		})
	}
	if err := store.VerifyChain(events); err != nil {
		resp.ChainError = err.Error()
	}
	return resp, nil
}

// RemoteAdmin administers a running CA through its admin socket.
type RemoteAdmin struct {
	client cav1.AdminClient
	conn   *grpc.ClientConn
}

// DialAdmin connects to the admin socket at path.
func DialAdmin(path string) (*RemoteAdmin, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ca: admin socket %s: %w", path, err)
	}
	conn, err := grpc.NewClient("unix://"+abs, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("ca: admin socket %s: %w", path, err)
	}
	return &RemoteAdmin{client: cav1.NewAdminClient(conn), conn: conn}, nil
}

// Close closes the connection.
func (r *RemoteAdmin) Close() error { return r.conn.Close() }

func (r *RemoteAdmin) CreateJoinToken(ctx context.Context, id spiffeid.ID, ttl time.Duration, reusable bool) (string, time.Time, error) {
	resp, err := r.client.CreateJoinToken(ctx, &cav1.CreateJoinTokenRequest{SpiffeId: id.String(), TtlSeconds: int64(ttl / time.Second), Reusable: reusable})
	if err != nil {
		return "", time.Time{}, rpcError(err)
	}
	return resp.GetToken(), time.Unix(resp.GetExpiresUnix(), 0), nil
}

func (r *RemoteAdmin) Certificates(ctx context.Context) ([]store.CertRecord, error) {
	resp, err := r.client.ListCertificates(ctx, &cav1.ListCertificatesRequest{})
	if err != nil {
		return nil, rpcError(err)
	}
	var out []store.CertRecord
	for _, c := range resp.GetCertificates() {
		out = append(out, store.CertRecord{
			Serial: c.GetSerial(), SPIFFEID: c.GetSpiffeId(), NotBefore: time.Unix(c.GetNotBeforeUnix(), 0),
			NotAfter: time.Unix(c.GetNotAfterUnix(), 0), IssuedAt: time.Unix(c.GetIssuedUnix(), 0),
			Requester: c.GetRequester(), Attestation: c.GetAttestation(),
		})
	}
	return out, nil
}

// AuditEvents returns the log; the server verifies the hash chain, since
// events lose their exact encoding on the wire.
func (r *RemoteAdmin) AuditEvents(ctx context.Context) ([]store.Event, error) {
	resp, err := r.client.ListAuditEvents(ctx, &cav1.ListAuditEventsRequest{})
	if err != nil {
		return nil, rpcError(err)
	}
	var out []store.Event
	for _, e := range resp.GetEvents() {
		out = append(out, store.Event{
			Seq: e.GetSequence(), Time: time.Unix(0, e.GetTimeUnixNano()), Kind: e.GetKind(), SPIFFEID: e.GetSpiffeId(),
			Serial: e.GetSerial(), Requester: e.GetRequester(), Attestation: e.GetAttestation(), Reason: e.GetReason(), Hash: e.GetHash(),
		})
	}
	if msg := resp.GetChainError(); msg != "" {
		return out, fmt.Errorf("%s", msg)
	}
	return out, nil
}

func rpcError(err error) error {
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s", s.Message())
	}
	return err
}
