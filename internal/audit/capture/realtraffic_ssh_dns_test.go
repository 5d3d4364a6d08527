package capture_test

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/audit/capture"
	"github.com/hopseal/hopseal/internal/testenv"
)

// Real SSH (OpenSSH) and DNS over TCP (dnsmasq, dig) between pods.

const (
	dnsName = "shop.test"
	dnsAddr = "10.0.0.7"
)

// remoteSoftware is the server's version as `ssh -v` reports it.
var remoteSoftware = regexp.MustCompile(`(?m)remote software version (.+?)\r?$`)

func TestRealTrafficSSHAndDNS(t *testing.T) {
	testenv.RequireTool(t, "ssh", "dig", "tshark")
	n := testenv.NewNet(t, testenv.NetConfig{})
	client, server := n.AddPod(t, "client"), n.AddPod(t, "server")
	key := sshServer(t, server)
	dnsServer(t, server, dnsName, dnsAddr)

	c := testenv.StartCapture(t, n.Bridge, "tcp")
	banner := sshRun(t, client, server, key)
	dig(t, client, server)
	c.WaitConns(t, 10*time.Second, "both connections closed", func(conns []testenv.TCPConn) bool {
		return len(conns) == 2 && conns[0].Finished() && conns[1].Finished()
	})
	c.Stop(t)

	pcap, err := os.ReadFile(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pcap, []byte(secretToken)) {
		t.Errorf("the capture holds %q, which crossed only inside SSH", secretToken)
	}
	r := analyzeFile(t, c.Path, client, server)
	checkSSHAndDNS(t, r, banner)
	checkNoSecrets(t, r)
	crossCheck(t, c.Path, r.Conns)
}

// sshRun runs a command carrying a secret over SSH from client, and
// returns the banner the server sent, as the client read it.
func sshRun(t *testing.T, client, server *testenv.Pod, key string) string {
	t.Helper()
	out, err := client.Run(t, "ssh", "-v", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
		"root@"+server.IP.String(), "echo", secretToken)
	m := remoteSoftware.FindStringSubmatch(out)
	if err != nil || !strings.Contains(out, "\n"+secretToken) || m == nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	return "SSH-2.0-" + m[1]
}

// dig asks the server for dnsName over TCP.
func dig(t *testing.T, client, server *testenv.Pod) {
	t.Helper()
	out, err := client.Run(t, "dig", "+tcp", "+tries=1", "+time=5", "+short", "@"+server.IP.String(), dnsName, "A")
	if err != nil || strings.TrimSpace(out) != dnsAddr {
		t.Fatalf("dig +tcp %s: %v\n%s", dnsName, err, out)
	}
}

func checkSSHAndDNS(t *testing.T, r *capture.Result, banner string) {
	t.Helper()
	got := byPort(r.Conns)
	if s := got["22"]; len(s) != 1 || s[0].Protocol != capture.ProtoSSH || !s[0].Encrypted || s[0].Cleartext ||
		s[0].Banner != banner || s[0].Sample != "" || len(s[0].Notes) != 0 {
		t.Errorf("SSH: want one encrypted connection announcing %q, got %+v", banner, s)
	}
	if d := got["53"]; len(d) != 1 || d[0].Protocol != capture.ProtoDNS || d[0].Encrypted || d[0].Cleartext ||
		d[0].Sample != "query A "+dnsName || len(d[0].Notes) != 0 {
		t.Errorf("DNS: want one plaintext connection asking for A %s, got %+v", dnsName, d)
	}
	fs := r.Findings()
	titles := titlesOf(fs)
	want := []string{"low client → server: plaintext DNS", "info client → server: SSH"}
	if !slices.Equal(titles, want) {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(titles, "\n"), strings.Join(want, "\n"))
	}
	for i, w := range []struct{ rule, evidence string }{
		{"capture/plaintext-dns", "sample (credentials masked): query A " + dnsName},
		{"capture/encrypted", "banner " + banner},
	} {
		ev := strings.Join(fs[i].Evidence, "\n")
		if fs[i].Rule != w.rule || !strings.Contains(ev, w.evidence) {
			t.Errorf("finding %q: rule %s, evidence:\n%s\nwant rule %s with %q", fs[i].Title, fs[i].Rule, ev, w.rule, w.evidence)
		}
	}
}
