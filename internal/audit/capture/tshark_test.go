package capture_test

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/audit/capture"
	"github.com/hopseal/hopseal/internal/testenv"
)

// Wireshark's reading of the same capture: a second opinion from another
// implementation, connection by connection.

// tsharkConn is what tshark saw of one TCP stream.
type tsharkConn struct {
	ports     [2]string       // source and destination port of its first packet
	protocols map[string]bool // the Protocol column's values over its packets
}

// tsharkConns runs tshark over a capture file and groups its packets by
// tcp.stream. decodeAs are extra "-d" rules (e.g. "tcp.port==8080,tls").
func tsharkConns(t *testing.T, file string, decodeAs ...string) map[string]*tsharkConn {
	t.Helper()
	args := []string{"-r", file, "-T", "fields", "-E", "separator=/t", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "_ws.col.Protocol"}
	for _, d := range decodeAs {
		args = append(args, "-d", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	conns := map[string]*tsharkConn{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 || f[0] == "" {
			continue
		}
		c := conns[f[0]]
		if c == nil {
			c = &tsharkConn{ports: [2]string{f[1], f[2]}, protocols: map[string]bool{}}
			conns[f[0]] = c
		}
		c.protocols[f[3]] = true
	}
	return conns
}

// tsharkFor finds tshark's stream for a connection, by its two ports.
func tsharkFor(conns map[string]*tsharkConn, c capture.Conn) *tsharkConn {
	cp, sp := port(c.Client), port(c.Server)
	for _, tc := range conns {
		if tc.ports == [2]string{cp, sp} || tc.ports == [2]string{sp, cp} {
			return tc
		}
	}
	return nil
}

func port(addrPort string) string {
	i := strings.LastIndexByte(addrPort, ':')
	return addrPort[i+1:]
}

// tsharkWords are the Protocol column values Wireshark gives each verdict.
func tsharkWords(v capture.Verdict) []string {
	var words []string
	switch v.Protocol {
	case capture.ProtoHTTP1:
		words = append(words, "HTTP")
	case capture.ProtoPostgres:
		words = append(words, "PGSQL")
	case capture.ProtoRedis:
		words = append(words, "RESP")
	case capture.ProtoMySQL:
		words = append(words, "MySQL")
	case capture.ProtoSSH:
		words = append(words, "SSHv2")
	case capture.ProtoDNS:
		words = append(words, "DNS")
	case capture.ProtoSMTP:
		words = append(words, "SMTP")
	}
	if v.TLS != nil && v.TLS.Version != "" {
		words = append(words, "TLSv"+strings.TrimPrefix(v.TLS.Version, "TLS "))
	}
	return words
}

// crossCheck compares each connection's verdict with tshark's reading:
// tshark must show the protocol (and TLS version) found here, and no
// plaintext protocol where encryption was found.
func crossCheck(t *testing.T, file string, conns []capture.Conn, decodeAs ...string) {
	t.Helper()
	testenv.RequireTool(t, "tshark")
	ts := tsharkConns(t, file, decodeAs...)
	for _, c := range conns {
		tc := tsharkFor(ts, c)
		if tc == nil {
			t.Errorf("%s → %s: tshark has no such TCP stream", c.Client, c.Server)
			continue
		}
		var got []string
		for p := range tc.protocols {
			got = append(got, p)
		}
		slices.Sort(got)
		for _, w := range tsharkWords(c.Verdict) {
			if !tc.protocols[w] {
				t.Errorf("%s → %s: classified %s, but tshark shows %q, not %q", c.Client, c.Server, describe(c.Verdict), got, w)
			}
		}
		if c.Encrypted {
			for _, plain := range []string{"HTTP", "RESP", "MySQL"} {
				if tc.protocols[plain] {
					t.Errorf("%s → %s: classified %s, but tshark decodes %s in it", c.Client, c.Server, describe(c.Verdict), plain)
				}
			}
		}
	}
}

func describe(v capture.Verdict) string {
	s := v.Protocol
	if v.TLS != nil {
		s += fmt.Sprintf(" (%s %s)", v.TLS.Version, v.TLS.CipherSuite)
	}
	return s
}
