package certs

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// startPebble runs pebble, its validation authority checking challenges
// on the given ports.
func startPebble(t *testing.T, tlsPort, httpPort int) *testenv.Pebble {
	return testenv.StartPebble(t, testenv.PebbleOptions{TLSPort: tlsPort, HTTPPort: httpPort})
}

// frontDoor stands in for the gateway's listeners: a TLS listener whose
// certificates come from the current source and which offers ACMETLS1,
// and an HTTP listener that mounts its HTTPHandler.
type frontDoor struct {
	tlsLn, httpLn net.Listener
	src           atomic.Pointer[ACMESource]
	challenges    atomic.Int64 // HTTP-01 requests the source answered
	wg            sync.WaitGroup
}

// openFrontDoor opens both listeners; serve starts answering on them.
func openFrontDoor(t *testing.T) *frontDoor {
	t.Helper()
	d := &frontDoor{}
	var err error
	if d.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if d.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.tlsLn.Close(); d.httpLn.Close(); d.wg.Wait() })
	return d
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

func (d *frontDoor) serve() {
	config := &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return d.src.Load().GetCertificate(h) },
		NextProtos:     []string{"h2", "http/1.1", ACMETLS1},
	}
	d.wg.Go(func() {
		for {
			c, err := d.tlsLn.Accept()
			if err != nil {
				return
			}
			d.wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(wait))
				tls.Server(c, config).Handshake() // a challenge is answered by the handshake alone
			})
		}
	})
	srv := &http.Server{Handler: http.HandlerFunc(d.serveHTTP), ReadHeaderTimeout: wait}
	d.wg.Go(func() { srv.Serve(d.httpLn) })
}

func (d *frontDoor) serveHTTP(w http.ResponseWriter, r *http.Request) {
	fallthrough_ := false
	d.src.Load().HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fallthrough_ = true
		http.Redirect(w, r, "https://"+r.Host+r.URL.Path, http.StatusPermanentRedirect)
	})).ServeHTTP(w, r)
	if !fallthrough_ && strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
		d.challenges.Add(1)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
