package l7_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hopseal/hopseal/internal/l7"
)

// gRPC over h2c through ServeHTTP2: unary calls and a server stream work,
// each call is reported with its method path, and a denied method fails
// with PermissionDenied.
func TestHTTP2GRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)

	f := startFront(t, l.Addr().String(), l7.ServeHTTP2, func(method, path string) (bool, string, string) {
		if path == "/grpc.health.v1.Health/List" {
			return false, "no-list", "listing is not allowed"
		}
		return true, "grpc", ""
	})
	conn, err := grpc.NewClient(f.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := healthpb.NewHealthClient(conn)

	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", resp, err)
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(unknown): %v, want NotFound (the trailers carry it)", err)
	}
	if _, err := client.List(ctx, &healthpb.HealthListRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("List: %v, want PermissionDenied", err)
	}
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v %v", m, err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after a change: %v %v", m, err)
	}
	reps := f.Log.wait(t, 3)
	if r := reps[0]; r.Path != "/grpc.health.v1.Health/Check" || r.Method != "POST" || r.Status != 200 || r.Rule != "grpc" {
		t.Errorf("first report %+v", r)
	}
	if r := reps[2]; r.Path != "/grpc.health.v1.Health/List" || !r.Denied || r.Status != 403 {
		t.Errorf("third report %+v", r)
	}
}
