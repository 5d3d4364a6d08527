package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
	"github.com/hopseal/hopseal/internal/testpki"
)

// app is an HTTP app in a pod (plain, or serving its own TLS) that knows
// nothing of the mesh. It records what each request carried and answers
// with plaintext markers of its own, then the request body.
type app struct {
	name string
	mu   sync.Mutex // guards reqs
	reqs []appRequest
}

type appRequest struct {
	XFF  string // X-Forwarded-For as the app received it
	Body []byte
}

func (a *app) requests() []appRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]appRequest(nil), a.reqs...)
}

// downMarkers are what an app sends back: none may cross the wire readable.
func downMarkers(name string) [][]byte { return markers("DOWN-"+name, 4) }

func markers(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "HOPSEAL-PLAINTEXT-%s-%02d", tag, i)
	}
	return out
}

// markedBody is filler with every marker in it.
func markedBody(ms [][]byte) []byte {
	var b bytes.Buffer
	for _, m := range ms {
		b.Write(bytes.Repeat([]byte("plaintext filler "), 100))
		b.Write(m)
	}
	return b.Bytes()
}

func serveHTTPApp(t *testing.T, pod *testenv.MeshPod, port int, tlsConf *tls.Config) *app {
	a := &app{name: pod.Name}
	l := pod.Listen(t, "tcp", fmt.Sprintf(":%d", port))
	if tlsConf != nil {
		l = tls.NewListener(l, tlsConf)
	}
	reply := markedBody(downMarkers(pod.Name))
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, appRequest{XFF: r.Header.Get("X-Forwarded-For"), Body: body})
		a.mu.Unlock()
		w.Write(reply)
		w.Write(body)
	})}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return a
}

// appTLS is the pay app's own TLS: a certificate the gateway has no key for.
func (e *edge) appTLS(t *testing.T, ca *testpki.CA) *tls.Config {
	cert, key, _ := e.webCert(t, ca, "pay-app", x509.ExtKeyUsageServerAuth, payHost)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}
}

// post sends body to https://host/path from the client pod through the
// load balancer, on a connection of its own, verifying the server with
// the roots a client of host trusts.
func (e *edge) post(t *testing.T, host, path string, body []byte) (int, []byte) {
	t.Helper()
	pem, err := os.ReadFile(e.roots[host])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}},
		DisableKeepAlives: true,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return e.client.Dial("tcp", e.lb.Addr(lbPort), 5*time.Second)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Post("https://"+host+path, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST https://%s%s from the client pod: %v", host, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST https://%s%s: reading the answer: %v", host, path, err)
	}
	return resp.StatusCode, got
}
