package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// securityHeader must be on every Workload API request, so that a browser or
// an SSRF cannot reach the API by accident.
const securityHeader = "workload.spiffe.io"

// ServeWorkloadAPI serves the SPIFFE Workload API on a unix socket until ctx
// ends. The socket is created with mode 0600 (mode when non-zero).
func (a *Agent) ServeWorkloadAPI(ctx context.Context, path string, mode os.FileMode) error {
	if mode == 0 {
		mode = 0o600
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("workload API: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("workload API: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("workload API: %w", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return fmt.Errorf("workload API: %w", err)
	}
	srv := grpc.NewServer()
	workload.RegisterSpiffeWorkloadAPIServer(srv, &workloadAPI{agent: a})
	go func() {
		<-ctx.Done()
		srv.Stop() // streams never end on their own
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("workload API: %w", err)
	}
	return nil
}

type workloadAPI struct {
	workload.UnimplementedSpiffeWorkloadAPIServer
	agent *Agent
}

func checkHeader(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(securityHeader); len(v) != 1 || v[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	return nil
}

func (w *workloadAPI) FetchX509SVID(_ *workload.X509SVIDRequest, stream workload.SpiffeWorkloadAPI_FetchX509SVIDServer) error {
	return w.stream(stream.Context(), func() error {
		resp, err := w.x509SVIDResponse()
		if err != nil {
			return err
		}
		return stream.Send(resp)
	})
}

func (w *workloadAPI) FetchX509Bundles(_ *workload.X509BundlesRequest, stream workload.SpiffeWorkloadAPI_FetchX509BundlesServer) error {
	return w.stream(stream.Context(), func() error {
		b := w.agent.Bundle()
		return stream.Send(&workload.X509BundlesResponse{Bundles: map[string][]byte{b.TrustDomain().IDString(): concatDER(b.X509Authorities())}})
	})
}

// stream sends now and after every update until the client goes away.
func (w *workloadAPI) stream(ctx context.Context, send func() error) error {
	if err := checkHeader(ctx); err != nil {
		return err
	}
	for {
		changed := w.agent.Changed()
		if err := send(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func (w *workloadAPI) x509SVIDResponse() (*workload.X509SVIDResponse, error) {
	svid, err := w.agent.GetX509SVID()
	if err != nil {
		return nil, status.Error(codes.Unavailable, "no identity issued yet")
	}
	key, err := x509.MarshalPKCS8PrivateKey(svid.PrivateKey)
	if err != nil {
		return nil, status.Error(codes.Internal, "marshal key")
	}
	b := w.agent.Bundle()
	return &workload.X509SVIDResponse{Svids: []*workload.X509SVID{{
		SpiffeId:    svid.ID.String(),
		X509Svid:    concatDER(svid.Certificates),
		X509SvidKey: key,
		Bundle:      concatDER(b.X509Authorities()),
	}}}, nil
}

func concatDER(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.Raw...)
	}
	return out
}
