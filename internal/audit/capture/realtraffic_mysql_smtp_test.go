package capture_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/audit/capture"
	"github.com/hopseal/hopseal/internal/testenv"
)

// Real MySQL (MariaDB) and SMTP (Exim) between pods, each once in
// plaintext and once upgraded to TLS.

// tlsOnly is sent only inside TLS: the capture must not hold it.
const tlsOnly = "only-inside-tls-7c1e"

func TestRealTrafficMySQLAndSMTP(t *testing.T) {
	testenv.RequireTool(t, "mariadb", "openssl", "tshark")
	n := testenv.NewNet(t, testenv.NetConfig{})
	client, server := n.AddPod(t, "client"), n.AddPod(t, "server")
	mariadbServer(t, server)
	eximServer(t, server)

	c := testenv.StartCapture(t, n.Bridge, "tcp")
	version, _ := mariadb(t, client, server, "--skip-ssl", secretToken)
	_, sslVersion := mariadb(t, client, server, "--ssl", tlsOnly)
	authArg := smtpAuth(t, client, server)
	out, err := client.Run(t, "openssl", "s_client", "-connect", server.Addr(25), "-starttls", "smtp", "-servername", "server.test")
	if err != nil || !strings.Contains(out, "Cipher is") {
		t.Fatalf("openssl s_client -starttls smtp: %v\n%s", err, out)
	}
	c.WaitConns(t, 10*time.Second, "the four connections closed", func(conns []testenv.TCPConn) bool {
		return len(conns) == 4 && !slices.ContainsFunc(conns, func(c testenv.TCPConn) bool { return !c.Finished() })
	})
	c.Stop(t)

	pcap, err := os.ReadFile(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pcap, []byte(tlsOnly)) || !bytes.Contains(pcap, []byte(secretToken)) {
		t.Errorf("the capture should hold %q (sent in plaintext) and not %q (sent only inside TLS)", secretToken, tlsOnly)
	}
	r := analyzeFile(t, c.Path, client, server)
	checkMySQL(t, r, version, sslVersion)
	checkSMTP(t, r)
	checkMySQLAndSMTPFindings(t, r)
	checkNoSecrets(t, r)
	if ev, err := r.Evidence(time.Now()); err != nil || strings.Contains(string(ev.Data)+fmt.Sprint(ev.Findings), authArg) {
		t.Errorf("the evidence quotes AUTH PLAIN's argument (the credentials in base64), or fails: %v", err)
	}
	crossCheckMySQLAndSMTP(t, c.Path, r.Conns)
}

// mariadb runs a query selecting secret with the client's TLS flag, and
// returns the server's version and the session's TLS version ("" without).
func mariadb(t *testing.T, client, server *testenv.Pod, tlsFlag, secret string) (version, sslVersion string) {
	t.Helper()
	query := fmt.Sprintf("SELECT '%s', VERSION(); SHOW SESSION STATUS LIKE 'Ssl_version'", secret)
	out, err := client.Run(t, "env", "MYSQL_PWD="+secretPassword, "mariadb", "--no-defaults", "-h", server.IP.String(),
		"-P", "3306", "-u", mysqlUser, "--connect-timeout=10", tlsFlag, "-N", "-B", "-e", query)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if err != nil || len(lines) != 2 {
		t.Fatalf("mariadb %s: %v\n%s", tlsFlag, err, out)
	}
	row, status := strings.Split(lines[0], "\t"), strings.Split(lines[1], "\t")
	if len(row) != 2 || row[0] != secret || len(status) != 2 || status[0] != "Ssl_version" {
		t.Fatalf("mariadb %s: unexpected answer\n%s", tlsFlag, out)
	}
	return row[1], status[1]
}

// smtpAuth sends EHLO and AUTH PLAIN with secretPassword without TLS, as
// a misconfigured client would, checks that the server accepts it, and
// returns AUTH's argument (the credentials in base64).
func smtpAuth(t *testing.T, client, server *testenv.Pod) string {
	t.Helper()
	conn, err := client.Dial("tcp", server.Addr(25), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(conn)
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + smtpUser + "\x00" + secretPassword))
	for _, step := range []struct{ send, want string }{
		{"", "220 "}, {"EHLO client.test", "250 "}, {"AUTH PLAIN " + plain, "235 "}, {"QUIT", "221 "},
	} {
		if step.send != "" {
			fmt.Fprintf(conn, "%s\r\n", step.send)
		}
		if reply := smtpReply(t, rd); !strings.HasPrefix(reply, step.want) {
			cmd, _, _ := strings.Cut(step.send, " ") // AUTH's argument is the secret
			t.Fatalf("SMTP: to %q the server said %q, want %q", cmd, reply, step.want)
		}
	}
	return plain
}

// smtpReply reads one (possibly multi-line) reply and returns its last line.
func smtpReply(t *testing.T, rd *bufio.Reader) string {
	t.Helper()
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("SMTP reply: %v (read %q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func checkMySQL(t *testing.T, r *capture.Result, version, sslVersion string) {
	t.Helper()
	my := byPort(r.Conns)["3306"]
	slices.SortFunc(my, func(a, b capture.Conn) int { return a.Index - b.Index })
	if len(my) != 2 {
		t.Fatalf("MySQL: want 2 connections, got %+v", my)
	}
	// MariaDB announces itself as "5.5.5-<version>" for old clients' sake.
	banner := "5.5.5-" + version
	if p := my[0]; p.Protocol != capture.ProtoMySQL || p.Encrypted || p.Cleartext || p.Banner != banner ||
		p.Sample != "HandshakeResponse user="+mysqlUser+" auth=<redacted>" || p.Upgrade != "" || len(p.Notes) != 0 {
		t.Errorf("--skip-ssl: want plaintext MySQL from %q with the auth masked, got %+v", banner, p.Verdict)
	}
	want := strings.Replace(sslVersion, "TLSv", "TLS ", 1)
	if s := my[1]; s.Protocol != capture.ProtoMySQL || !s.Encrypted || s.Upgrade != "SSL" || s.Banner != banner ||
		s.TLS == nil || s.TLS.Version != want || s.Sample != "" || len(s.Notes) != 0 {
		t.Errorf("--ssl: want MySQL upgraded to %s (the server's Ssl_version %q), got %+v %+v", want, sslVersion, s.Verdict, s.TLS)
	}
}

func checkSMTP(t *testing.T, r *capture.Result) {
	t.Helper()
	sm := byPort(r.Conns)["25"]
	slices.SortFunc(sm, func(a, b capture.Conn) int { return a.Index - b.Index })
	if len(sm) != 2 {
		t.Fatalf("SMTP: want 2 connections, got %+v", sm)
	}
	const banner = "server.test ESMTP Exim "
	// The sample ends at AUTH: the classifier decides there.
	if p := sm[0]; p.Protocol != capture.ProtoSMTP || p.Encrypted || !p.Cleartext || !strings.HasPrefix(p.Banner, banner) ||
		p.Sample != "EHLO client.test\nAUTH PLAIN <redacted>" || len(p.Notes) != 0 {
		t.Errorf("AUTH PLAIN: want plaintext SMTP with the credentials masked, got %+v", p.Verdict)
	}
	if s := sm[1]; s.Protocol != capture.ProtoSMTP || !s.Encrypted || s.Cleartext || s.Upgrade != "STARTTLS" ||
		!strings.HasPrefix(s.Banner, banner) || s.TLS == nil || s.TLS.Version != "TLS 1.3" || s.Sample != "" || len(s.Notes) != 0 {
		t.Errorf("STARTTLS: want SMTP upgraded to TLS 1.3, got %+v %+v", s.Verdict, s.TLS)
	}
}

func checkMySQLAndSMTPFindings(t *testing.T, r *capture.Result) {
	t.Helper()
	fs := r.Findings()
	want := []struct{ title, rule string }{
		{"critical client → server: plaintext SMTP with credentials in the clear", "capture/plaintext-smtp"},
		{"high client → server: plaintext MySQL", "capture/plaintext-mysql"},
		{"low client → server: MySQL negotiates TLS in plaintext (SSL)", "capture/opportunistic-tls"},
		{"low client → server: SMTP negotiates TLS in plaintext (STARTTLS)", "capture/opportunistic-tls"},
		{"info client → server: MySQL (TLS 1.3, X25519)", "capture/encrypted"},
		{"info client → server: SMTP (TLS 1.3, X25519)", "capture/encrypted"},
	}
	titles := titlesOf(fs)
	if len(fs) != len(want) {
		t.Fatalf("findings:\n%s\nwant %d", strings.Join(titles, "\n"), len(want))
	}
	for i, w := range want {
		if titles[i] != w.title || fs[i].Rule != w.rule || len(fs[i].Evidence) == 0 {
			t.Errorf("finding %d: %q, rule %s, evidence %q; want %q, rule %s, with evidence", i, titles[i], fs[i].Rule, fs[i].Evidence, w.title, w.rule)
		}
	}
}

// crossCheckMySQLAndSMTP asks tshark's opinion. An upgraded MySQL
// connection starts with MySQL packets in the clear (the greeting and
// the SSL request), which crossCheck would take for leaked plaintext: it
// gets the other connections, and this one is checked here.
func crossCheckMySQLAndSMTP(t *testing.T, file string, conns []capture.Conn) {
	t.Helper()
	var rest []capture.Conn
	ts := tsharkConns(t, file)
	for _, c := range conns {
		if c.Protocol != capture.ProtoMySQL || !c.Encrypted {
			rest = append(rest, c)
			continue
		}
		tc := tsharkFor(ts, c)
		if tc == nil || !tc.protocols["MySQL"] || !tc.protocols["TLSv"+strings.TrimPrefix(c.TLS.Version, "TLS ")] {
			t.Errorf("%s → %s: classified MySQL upgraded to %s, tshark shows %+v", c.Client, c.Server, c.TLS.Version, tc)
		}
	}
	crossCheck(t, file, rest)
}
