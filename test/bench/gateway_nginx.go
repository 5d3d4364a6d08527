package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// nginxConf is nginx doing the gateway's two jobs, as its documentation
// configures them:
//
//   - terminate: an http server with the public certificate, proxying to
//     the backend proxy over TLS with the gateway's SVID as client
//     certificate, through a pool of keep-alive upstream connections;
//   - passthrough: a stream server that reads the ClientHello's SNI
//     (ssl_preread) without terminating it and relays the client's bytes
//     inside TLS to the backend proxy (proxy_ssl), with the same SVID.
//
// One worker per CPU (worker_processes auto). Access logs are buffered,
// as hopseal's log lines are. TLS 1.3 with AES-128-GCM, the AEAD hopseal
// negotiates. proxy_ssl_verify stays off: nginx then also
// checks the peer's DNS name or CN against proxy_ssl_name, and an X.509-SVID
// has neither (only a URI SAN), so no setting makes nginx accept the
// backend proxy's SVID with verification on. nginx therefore does not check
// the backend at all; only per new upstream connection, which keep-alive
// makes rare.
const nginxConf = `# hopseal bench: nginx as the gateway (generated)
%[1]s
worker_processes auto;
pid %[2]s/nginx.pid;
error_log stderr notice;
daemon off;
events { worker_connections 4096; }

http {
    access_log %[2]s/access.log combined buffer=32k flush=100ms;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    # hopseal's gateway limits neither; nginx's defaults close a
    # keep-alive connection after 1000 requests.
    keepalive_requests 1000000;
    keepalive_timeout 120s;

    upstream mesh_terminate {
        server %[3]s;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 90s;
    }
    server {
        listen %[4]s ssl;
        server_name %[5]s;
        ssl_certificate %[6]s;
        ssl_certificate_key %[7]s;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
        location / {
            proxy_pass https://mesh_terminate;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_ssl_certificate %[8]s;
            proxy_ssl_certificate_key %[9]s;
            proxy_ssl_protocols TLSv1.3;
            proxy_ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
            proxy_ssl_verify off;
        }
    }
}

stream {
    log_format basic '$remote_addr [$time_local] $ssl_preread_server_name $status $bytes_sent $bytes_received $session_time';
    access_log %[2]s/stream.log basic buffer=32k flush=100ms;
    map $ssl_preread_server_name $mesh_passthrough {
        %[5]s %[10]s;
        default 127.0.0.1:1;
    }
    server {
        listen %[11]s;
        ssl_preread on;
        proxy_pass $mesh_passthrough;
        proxy_ssl on;
        proxy_ssl_certificate %[8]s;
        proxy_ssl_certificate_key %[9]s;
        proxy_ssl_protocols TLSv1.3;
        proxy_ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
        proxy_ssl_verify off;
    }
}
`

// startNginx runs nginx in the foreground with its own configuration, pid
// file and logs in dir; it listens on two free loopback ports.
func startNginx(ctx context.Context, bin, dir string, pub *publicPKI, mesh meshCreds, backends map[string]string) (*front, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	load, err := nginxStreamModule(ctx, bin)
	if err != nil {
		return nil, err
	}
	f := &front{name: "nginx", addrs: map[string]string{terminate: freePort(), passthrough: freePort()}}
	conf := fmt.Sprintf(nginxConf, load, dir, backends[terminate], f.addrs[terminate], publicName,
		pub.certFile, pub.keyFile, mesh.cert, mesh.key, backends[passthrough], f.addrs[passthrough])
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if f.proc, err = start(dir, nil, bin, "-e", "stderr", "-p", dir, "-c", file); err != nil {
		return nil, err
	}
	f.proc.name = "nginx"
	if err := f.waitListening(ctx); err != nil {
		f.proc.stop()
		return nil, err
	}
	return f, nil
}

// nginxStreamModule is the load_module line for the stream module where
// nginx was built with it as a dynamic module (Debian's libnginx-mod-stream).
func nginxStreamModule(ctx context.Context, bin string) (string, error) {
	build := combined(ctx, bin, "-V")
	if !strings.Contains(build, "--with-stream=dynamic") {
		if strings.Contains(build, "--with-stream ") || strings.Contains(build, "--with-stream\n") {
			return "", nil // built in
		}
		return "", fmt.Errorf("%s was built without the stream module, which passthrough routes need; install nginx with scripts/install-test-deps.sh", bin)
	}
	dir := "/usr/lib/nginx/modules"
	for _, f := range strings.Fields(build) {
		if v, ok := strings.CutPrefix(f, "--modules-path="); ok {
			dir = v
		}
	}
	module := filepath.Join(dir, "ngx_stream_module.so")
	if _, err := os.Stat(module); err != nil {
		return "", fmt.Errorf("nginx's stream module: %w; install libnginx-mod-stream (scripts/install-test-deps.sh)", err)
	}
	return "load_module " + module + ";", nil
}

// nginxVersion is nginx's version and the OpenSSL it was built with.
func nginxVersion(ctx context.Context, bin string) (version, openssl string) {
	out := combined(ctx, bin, "-V")
	return strings.TrimPrefix(firstLine(out, "nginx version:"), "nginx version: "), strings.TrimPrefix(firstLine(out, "built with OpenSSL"), "built with ")
}

// waitListening polls until every address of the front accepts a TCP
// connection, or fails if the front exits first.
func (f *front) waitListening(ctx context.Context) error {
	err := poll(ctx, readyWait, func() (bool, error) {
		select {
		case <-f.proc.done:
			return false, fmt.Errorf("%s exited", f.name)
		default:
		}
		for _, addr := range f.addrs {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return false, nil
			}
			c.Close()
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w; output:\n%s", f.name, err, f.proc.output())
	}
	return nil
}
