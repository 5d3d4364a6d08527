package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// haproxyConf is haproxy doing the gateway's two jobs, as its documentation
// configures them:
//
//   - terminate: a mode http frontend with the public certificate, and a
//     server line with TLS, the gateway's SVID as client certificate and
//     the backend's chain verified against the mesh bundle (verify
//     required); idle server connections are reused (http-reuse safe, the
//     default);
//   - passthrough: a mode tcp frontend that waits for the ClientHello
//     (tcp-request inspect-delay), routes by its SNI (req_ssl_sni) and
//     relays the client's TLS inside TLS to the backend proxy, with the
//     same SVID and verification.
//
// haproxy cannot check the backend's SPIFFE ID (verifyhost compares DNS
// names); it checks the chain. nbthread is left out: haproxy then runs one
// thread per CPU, its documented default. A log line per request
// (terminate) or connection (passthrough) goes to stdout, as in a
// container. TLS 1.3 with AES-128-GCM, the AEAD hopseal negotiates.
const haproxyConf = `# hopseal bench: haproxy as the gateway (generated)
global
    log stdout format raw local0 info
    maxconn 4096
    ssl-server-verify required
    ssl-default-bind-options ssl-min-ver TLSv1.3
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
    ssl-default-server-options ssl-min-ver TLSv1.3
    ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256

defaults
    log global
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s

frontend terminate
    mode http
    option httplog
    bind %[1]s ssl crt %[2]s alpn http/1.1
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    http-request set-header X-Forwarded-Host %%[req.hdr(host)]
    default_backend mesh_terminate

backend mesh_terminate
    mode http
    server backend %[3]s ssl crt %[4]s ca-file %[5]s verify required

frontend passthrough
    mode tcp
    option tcplog
    bind %[6]s
    tcp-request inspect-delay 5s
    tcp-request content accept if { req_ssl_hello_type 1 }
    use_backend mesh_passthrough if { req_ssl_sni -i %[7]s }

backend mesh_passthrough
    mode tcp
    server backend %[8]s ssl crt %[4]s ca-file %[5]s verify required
`

// startHaproxy runs haproxy in the foreground (-db) with its own
// configuration in dir; it listens on two free loopback ports.
func startHaproxy(ctx context.Context, bin, dir string, pub *publicPKI, mesh meshCreds, backends map[string]string) (*front, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f := &front{name: "haproxy", addrs: map[string]string{terminate: freePort(), passthrough: freePort()}}
	conf := fmt.Sprintf(haproxyConf, f.addrs[terminate], pub.pemFile, backends[terminate], mesh.pem, mesh.bundle,
		f.addrs[passthrough], publicName, backends[passthrough])
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if out, err := run(ctx, dir, bin, "-c", "-f", file); err != nil {
		return nil, fmt.Errorf("haproxy refused its configuration: %w%s", err, out)
	}
	var err error
	if f.proc, err = start(dir, nil, bin, "-db", "-f", file); err != nil {
		return nil, err
	}
	f.proc.name = "haproxy"
	if err := f.waitListening(ctx); err != nil {
		f.proc.stop()
		return nil, err
	}
	return f, nil
}

// haproxyVersion is haproxy's version and the OpenSSL it runs on.
func haproxyVersion(ctx context.Context, bin string) (version, openssl string) {
	out := combined(ctx, bin, "-vv")
	version = strings.TrimPrefix(firstLine(out, "HAProxy version"), "HAProxy version ")
	version, _, _ = strings.Cut(version, " - ")
	openssl = firstLine(out, "Running on OpenSSL version")
	if _, v, ok := strings.Cut(openssl, ": "); ok {
		openssl = v
	}
	return version, openssl
}
