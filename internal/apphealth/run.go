package apphealth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// loopback is where the app's probes go: the proxy shares the pod's network
// namespace, and loopback is never intercepted.
const loopback = "127.0.0.1"

// userAgent starts as the kubelet's does, for apps that look for it.
const userAgent = "kube-probe/hopseal"

// maxRedirects and maxBody are the kubelet's limits.
const (
	maxRedirects = 10
	maxBody      = 10 << 10
)

type runner struct {
	client *http.Client
}

func newRunner() runner {
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true, // as the kubelet: each probe is a fresh connection
		// As the kubelet does for HTTPS probes: a probe asks whether the app
		// answers, not who it is, and the app's certificate names its service.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	return runner{client: &http.Client{Transport: tr, CheckRedirect: sameHostRedirects}}
}

// sameHostRedirects follows redirects on the same host, as the kubelet does;
// a redirect elsewhere ends the probe with the redirect's own status.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

func (r runner) probe(ctx context.Context, p Probe) error {
	switch {
	case p.HTTPGet != nil:
		return r.httpGet(ctx, p.HTTPGet)
	case p.TCPSocket != nil:
		return tcpSocket(ctx, p.TCPSocket.Port)
	case p.GRPC != nil:
		return grpcHealth(ctx, p.GRPC)
	}
	return errors.New("probe has no handler")
}

func (r runner) httpGet(ctx context.Context, h *HTTPGet) error {
	u, err := url.Parse(h.Path)
	if err != nil {
		return err
	}
	u.Scheme = map[string]string{"HTTP": "http", "HTTPS": "https"}[h.Scheme]
	u.Host = hostPort(h.Port)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	for _, hd := range h.Headers {
		if http.CanonicalHeaderKey(hd.Name) == "Host" {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: status %d", u.RequestURI(), resp.StatusCode)
	}
	return nil
}

func tcpSocket(ctx context.Context, port uint16) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", hostPort(port))
	if err != nil {
		return err
	}
	return c.Close()
}

func grpcHealth(ctx context.Context, g *GRPC) error {
	// As the kubelet's grpc probe: plaintext, the standard health service.
	conn, err := grpc.NewClient("passthrough:///"+hostPort(g.Port),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(userAgent))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: g.Service})
	if err != nil {
		return fmt.Errorf("grpc health check of %s: %w", hostPort(g.Port), err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("grpc health check of %s: status %s", hostPort(g.Port), s)
	}
	return nil
}

func hostPort(port uint16) string {
	return net.JoinHostPort(loopback, strconv.Itoa(int(port)))
}
