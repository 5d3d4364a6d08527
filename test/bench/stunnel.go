package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// stunnelSide is one stunnel process of a pair: it accepts plaintext (the
// client side) or mTLS (the server side) and connects on.
type stunnelSide struct {
	role            string // "client" or "server"
	at              launcher
	accept, connect string
}

// stunnelPair runs stunnel in server mode and stunnel in client mode in
// front of it, both with the SVIDs the hopseal CA issued to the hopseal
// proxies of the same roles, verifying the peer's chain to the same bundle,
// TLS 1.3 only, with the AEAD hopseal negotiates, and every connection a
// full handshake, as hopseal's (it issues no session tickets). It logs to
// its output only: stunnel's default, syslog, falls back to the console
// where there is no syslog daemon, and a serial console costs milliseconds
// per line. Sides start in order.
func stunnelPair(ctx context.Context, bin, dir, hopsealDir string, sides []stunnelSide) (_ *path, err error) {
	var procs []*proc
	p := &path{name: "stunnel", stop: func() { stopAll(procs) }}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	byRole := map[string]*proc{}
	for _, s := range sides {
		cert, key := svidFiles(hopsealDir, s.role)
		conf := fmt.Sprintf(`foreground = yes
debug = 6
syslog = no
pid =
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
[app]
accept = %s
connect = %s
cert = %s
key = %s
CAfile = %s
verifyChain = yes
sslVersionMin = TLSv1.3
sslVersionMax = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256
sessionResume = no
`, s.accept, s.connect, cert, key, filepath.Join(hopsealDir, "bundle.pem"))
		if s.role == "server" {
			conf += "requireCert = yes\n"
		} else {
			conf += "client = yes\n"
		}
		file := filepath.Join(dir, s.role+".conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		sp, err := s.at.start(dir, nil, s.role+"-side stunnel", bin, file)
		if err != nil {
			return nil, err
		}
		procs = append(procs, sp)
		if _, err := sp.textLine(ctx, "Configuration successful", readyWait); err != nil {
			return nil, fmt.Errorf("stunnel %s: %w", s.role, err)
		}
		byRole[s.role] = sp
	}
	p.proxies = []*proc{byRole["client"], byRole["server"]}
	p.recordStartRSS()
	p.tls = func() string { return stunnelTLS(byRole["client"]) }
	return p, nil
}

// stunnelTLS reads the negotiated parameters from stunnel's info log.
func stunnelTLS(client *proc) string {
	out := client.output()
	var parts []string
	for _, key := range []string{" ciphersuite: ", "Peer temporary key: ", "Negotiated TLSv1.3 group: "} {
		for l := range strings.Lines(out) {
			if i := strings.Index(l, key); i >= 0 {
				parts = append(parts, strings.TrimSpace(l[i:]))
				break
			}
		}
	}
	if len(parts) == 0 {
		return "unknown (not in stunnel's log)"
	}
	return strings.Join(parts, "; ")
}

// freePort returns a loopback address whose port was free just now
// (stunnel cannot listen on port 0 and report it).
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}
