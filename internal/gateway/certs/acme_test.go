package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

const obtainWait = 90 * time.Second

// runACME runs src.Run until the returned stop is called (or cleanup).
func runACME(t *testing.T, src *ACMESource) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := src.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return stop
}

// dialSNI handshakes with the front door's TLS listener as a browser would.
func dialSNI(t *testing.T, addr net.Addr, roots *x509.CertPool, host string) ([]*x509.Certificate, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", addr.String(),
		&tls.Config{RootCAs: roots, ServerName: host, NextProtos: []string{"h2"}})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates, nil
}

func obtained(src *ACMESource, host string) func() bool {
	return func() bool {
		return slices.ContainsFunc(src.Certificates(), func(i Info) bool { return slices.Contains(i.Names, host) })
	}
}

// TestACMEPebble obtains a certificate from a real ACME server through each
// challenge, validated by the server connecting back to the listeners, then
// serves it on a real handshake; a second source on the same storage serves
// the stored certificate with the ACME server gone.
func TestACMEPebble(t *testing.T) {
	testenv.RequireTool(t, "pebble", "pebble-challtestsrv")
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			const host = "shop.example.com"
			door := openFrontDoor(t)
			peb := startPebble(t, port(door.tlsLn), port(door.httpLn))
			var l logs
			cfg := ACME{
				DirectoryURL: peb.Directory, CARootsFile: peb.RootsFile,
				StorageDir: filepath.Join(t.TempDir(), "acme"), Hostnames: []string{host},
			}
			if challenge == "tls-alpn-01" {
				cfg.TLSALPNPort = port(door.tlsLn)
			} else {
				cfg.HTTPPort = port(door.httpLn)
			}
			src, err := NewACME(cfg, l.logger())
			if err != nil {
				t.Fatal(err)
			}
			door.src.Store(src)
			door.serve()
			stop := runACME(t, src)
			testenv.Eventually(t, obtainWait, "a certificate for "+host, obtained(src, host))

			roots := peb.IssuingRoots(t)
			chain, err := dialSNI(t, door.tlsLn.Addr(), roots, host)
			if err != nil {
				t.Fatalf("handshake verifying against pebble's root: %v", err)
			}
			if !strings.HasPrefix(chain[0].Issuer.CommonName, "Pebble Intermediate CA") {
				t.Fatalf("leaf issued by %q, want pebble's intermediate", chain[0].Issuer.CommonName)
			}
			if challenge == "tls-alpn-01" && !strings.Contains(l.buf.String(), "served key authentication certificate") {
				t.Fatal("no TLS-ALPN-01 challenge was answered by GetCertificate")
			}
			if challenge == "http-01" && door.challenges.Load() == 0 {
				t.Fatal("no HTTP-01 challenge was answered by HTTPHandler")
			}
			checkRedirect(t, door.httpLn.Addr(), host)
			if _, err := dialSNI(t, door.tlsLn.Addr(), roots, "other.example.com"); err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
				t.Fatalf("a handshake for a hostname without a certificate: %v, want an alert from the server", err)
			}
			checkPrivate(t, cfg.StorageDir)

			// The same storage, with pebble stopped: only storage can serve.
			stop()
			peb.Proc.Stop()
			again, err := NewACME(cfg, l.logger())
			if err != nil {
				t.Fatal(err)
			}
			door.src.Store(again)
			runACME(t, again)
			testenv.Eventually(t, wait, "the stored certificate loaded", obtained(again, host))
			reused, err := dialSNI(t, door.tlsLn.Addr(), roots, host)
			if err != nil || !reused[0].Equal(chain[0]) {
				t.Fatalf("after a restart on the same storage: err %v, same certificate: %v", err, err == nil && reused[0].Equal(chain[0]))
			}
		})
	}
}

// TestACMERenewal renews while serving: with every certificate due for
// renewal at once, the served certificate changes without a restart.
func TestACMERenewal(t *testing.T) {
	testenv.RequireTool(t, "pebble", "pebble-challtestsrv")
	const host = "pay.example.com"
	door := openFrontDoor(t)
	peb := startPebble(t, port(door.tlsLn), port(door.httpLn))
	src, err := NewACME(ACME{
		DirectoryURL: peb.Directory, CARootsFile: peb.RootsFile, StorageDir: t.TempDir(),
		Hostnames: []string{host}, TLSALPNPort: port(door.tlsLn),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.renewCheck, src.renewRatio = 200*time.Millisecond, 1
	door.src.Store(src)
	door.serve()
	runACME(t, src)
	testenv.Eventually(t, obtainWait, "a certificate for "+host, obtained(src, host))
	roots := peb.IssuingRoots(t)
	first, err := dialSNI(t, door.tlsLn.Addr(), roots, host)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, obtainWait, "a renewed certificate served", func() bool {
		chain, err := dialSNI(t, door.tlsLn.Addr(), roots, host)
		return err == nil && !chain[0].Equal(first[0]) && slices.Contains(chain[0].DNSNames, host)
	})
}

// checkPrivate asserts that no file in the ACME storage is readable by
// group or others (lock files hold no secret and are gone once idle).
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	var keys int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".lock") {
			return nil
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group or others", path, info.Mode().Perm())
		}
		if strings.HasSuffix(path, ".key") {
			keys++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys < 2 {
		t.Fatalf("found %d private keys in the ACME storage, want the account's and the certificate's", keys)
	}
}

// checkRedirect asserts that HTTPHandler passes a request that is not a
// challenge to the next handler.
func checkRedirect(t *testing.T, addr net.Addr, host string) {
	t.Helper()
	client := &http.Client{Timeout: wait, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/cart", "/.well-known/acme-challenge/unknown-token"} {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr.String()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://"+host+path {
			t.Fatalf("GET %s: %s to %q, want the next handler's redirect", path, resp.Status, resp.Header.Get("Location"))
		}
	}
}
