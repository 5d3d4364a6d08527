package capture_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hopseal/hopseal/internal/testenv"
)

// Real servers in pods, as the traffic tests capture them.

const (
	secretPassword = "hunter2-s3cret"
	secretToken    = "tok-9f8e7d6c5b4a"
	mysqlUser      = "shop"
	smtpUser       = "orders@shop.test"
)

// writeCert writes a self-signed server certificate and key (cert.pem,
// key.pem) into dir, owned by uid:gid with the key private to them.
func writeCert(t *testing.T, dir string, uid, gid int) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "server.test"},
		DNSNames: []string{"server.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}

// waitOutput waits until a process prints want.
func waitOutput(t *testing.T, p *testenv.Proc, what, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, func() bool {
		if p.Exited() {
			t.Fatalf("%s exited: %s", what, p.Output())
		}
		return strings.Contains(p.Output(), want)
	})
}

// opensslServer runs `openssl s_server` on port with extra flags. It runs
// with -www: in its default mode it reads stdin and stops at its end.
func opensslServer(t *testing.T, pod *testenv.Pod, port int, flags ...string) {
	t.Helper()
	dir := t.TempDir()
	cert, key := writeCert(t, dir, 0, 0)
	args := append([]string{"s_server", "-www", "-accept", strconv.Itoa(port), "-cert", cert, "-key", key}, flags...)
	p := pod.Start(t, dir, "openssl", args...)
	waitOutput(t, p, "openssl s_server on port "+strconv.Itoa(port), "ACCEPT")
}

// postgresBin finds a Debian PostgreSQL server's program (they live in
// /usr/lib/postgresql/<version>/bin, off the PATH).
func postgresBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		testenv.Skip(t, "PostgreSQL's %s is not installed (Debian package postgresql)", name)
	}
	return matches[len(matches)-1]
}

// postgresServer initialises a database in a directory of its own and runs
// PostgreSQL on port 5432 of pod as the postgres user, with TLS available
// and clear-text password authentication from the network.
func postgresServer(t *testing.T, pod *testenv.Pod) {
	t.Helper()
	initdb, postgres := postgresBin(t, "initdb"), postgresBin(t, "postgres")
	u, err := user.Lookup("postgres")
	if err != nil {
		testenv.Skip(t, "no postgres user (Debian package postgresql)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := testenv.Cred{UID: uint32(uid), GID: uint32(gid)}
	dir := testenv.UserDir(t, cred)
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(secretPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(pwfile, uid, gid)
	data := filepath.Join(dir, "data")
	// Started in dir, which the postgres user can enter (the test's working
	// directory may not be).
	ini := pod.StartAs(t, cred, dir, initdb, "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=password",
		"--pwfile="+pwfile, "--no-sync")
	if err := ini.Wait(2 * time.Minute); err != nil {
		t.Fatalf("initdb: %v\n%s", err, ini.Output())
	}
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(hba, "host all all 0.0.0.0/0 password")
	hba.Close()
	cert, key := writeCert(t, dir, uid, gid)
	p := pod.StartAs(t, cred, dir, postgres, "-D", data, "-k", dir, "-h", "0.0.0.0", "-p", "5432",
		"-c", "ssl=on", "-c", "ssl_cert_file="+cert, "-c", "ssl_key_file="+key, "-c", "fsync=off")
	waitOutput(t, p, "PostgreSQL", "database system is ready to accept connections")
}

// psql runs one query from pod with the given sslmode.
func psql(t *testing.T, pod *testenv.Pod, server, sslmode string) {
	t.Helper()
	conn := fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=%s gssencmode=disable connect_timeout=10", server, sslmode)
	out, err := pod.Run(t, "env", "PGPASSWORD="+secretPassword, "psql", "-X", "-w", conn, "-c", "select 42")
	if err != nil || !strings.Contains(out, "42") {
		t.Fatalf("psql sslmode=%s: %v\n%s", sslmode, err, out)
	}
}

// redisServer runs redis-server on port 6379 of pod with a password.
func redisServer(t *testing.T, pod *testenv.Pod) {
	t.Helper()
	dir := t.TempDir()
	p := pod.Start(t, dir, "redis-server", "--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--requirepass", secretPassword, "--dir", dir)
	waitOutput(t, p, "redis-server", "Ready to accept connections")
}

// sbin finds a daemon's absolute path (Debian puts them in /usr/sbin,
// which may be off a non-root PATH).
func sbin(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		testenv.Skip(t, "%s is not installed (Debian package %s)", name, pkg)
	}
	return p
}

// sshServer runs OpenSSH's sshd on port 22 of pod, in the foreground with
// a host key and configuration of its own, accepting root with the key it
// returns (the private key's file).
func sshServer(t *testing.T, pod *testenv.Pod) (clientKey string) {
	t.Helper()
	sshd := sbin(t, "sshd", "openssh-server")
	testenv.RequireTool(t, "ssh-keygen")
	dir := t.TempDir()
	hostKey, clientKey := filepath.Join(dir, "host_key"), filepath.Join(dir, "client_key")
	for _, k := range []string{hostKey, clientKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hopseal-test", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	keys, config := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd_config")
	// No PAM, no system files; StrictModes off because the key files sit
	// under a world-writable temporary directory.
	conf := fmt.Sprintf("ListenAddress 0.0.0.0:22\nPidFile none\nUsePAM no\nStrictModes no\nAuthorizedKeysFile %s\n"+
		"PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n", keys)
	for path, b := range map[string][]byte{keys: pub, config: []byte(conf)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	privsepDir(t)
	// sshd re-executes itself for each connection: it needs its absolute path.
	p := pod.Start(t, dir, sshd, "-D", "-e", "-f", config, "-h", hostKey)
	waitOutput(t, p, "sshd", "Server listening on 0.0.0.0 port 22")
	return clientKey
}

// privsepDir makes the empty directory sshd confines its unprivileged
// child to (its init script makes it at boot), and removes it at cleanup
// if it was not there before.
func privsepDir(t *testing.T) {
	const dir = "/run/sshd"
	if _, err := os.Stat(dir); err == nil {
		return
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("sshd's privilege separation directory: %v", err)
	}
	t.Cleanup(func() { os.Remove(dir) })
}

// dnsServer runs dnsmasq on port 53 of pod in the foreground, with no
// upstream servers and no hosts file, answering name with addr.
func dnsServer(t *testing.T, pod *testenv.Pod, name, addr string) {
	t.Helper()
	dnsmasq := sbin(t, "dnsmasq", "dnsmasq-base")
	p := pod.Start(t, t.TempDir(), dnsmasq, "--conf-file=/dev/null", "--no-daemon", "--no-resolv", "--no-hosts",
		"--pid-file=", "--port=53", "--log-queries", "--address=/"+name+"/"+addr)
	// It binds its sockets before it logs this.
	waitOutput(t, p, "dnsmasq", "started, version")
}

// systemUser looks up the account a Debian package runs its daemon as.
func systemUser(t *testing.T, name, pkg string) testenv.Cred {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		testenv.Skip(t, "no %s user (Debian package %s)", name, pkg)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return testenv.Cred{UID: uint32(uid), GID: uint32(gid)}
}

// mariadbServer initialises a data directory of its own and runs MariaDB
// on port 3306 of pod as the mysql user, with TLS available and a user
// mysqlUser whose password is secretPassword.
func mariadbServer(t *testing.T, pod *testenv.Pod) {
	t.Helper()
	mariadbd := sbin(t, "mariadbd", "mariadb-server")
	testenv.RequireTool(t, "mariadb-install-db")
	cred := systemUser(t, "mysql", "mariadb-server")
	dir := testenv.UserDir(t, cred)
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir="+data,
		"--auth-root-authentication-method=socket", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	initSQL := filepath.Join(dir, "init.sql")
	sql := fmt.Sprintf("CREATE USER %s@'%%' IDENTIFIED BY '%s';\n", mysqlUser, secretPassword)
	if err := os.WriteFile(initSQL, []byte(sql), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key := writeCert(t, dir, int(cred.UID), int(cred.GID))
	p := pod.StartAs(t, cred, dir, mariadbd, "--no-defaults", "--datadir="+data, "--socket="+filepath.Join(dir, "sock"),
		"--pid-file="+filepath.Join(dir, "pid"), "--port=3306", "--bind-address=0.0.0.0", "--skip-name-resolve",
		"--init-file="+initSQL, "--ssl-cert="+cert, "--ssl-key="+key, "--innodb-flush-log-at-trx-commit=0")
	p.StopSignal = syscall.SIGTERM // it ignores SIGINT
	waitOutput(t, p, "mariadbd", "ready for connections")
}

// eximServer runs Exim on port 25 of pod in the foreground, with a
// configuration, spool and logs of its own: it offers STARTTLS and AUTH
// PLAIN (accepting smtpUser with secretPassword) with or without TLS, and
// refuses every recipient.
func eximServer(t *testing.T, pod *testenv.Pod) {
	t.Helper()
	exim := sbin(t, "exim4", "exim4-daemon-light")
	cred := systemUser(t, "Debian-exim", "exim4-daemon-light")
	dir := testenv.UserDir(t, cred) // Exim writes its logs and spool as its user
	cert, key := writeCert(t, dir, int(cred.UID), int(cred.GID))
	// No ident (RFC 1413) callback: it would be a connection of its own.
	conf := fmt.Sprintf(`keep_environment =
primary_hostname = server.test
daemon_smtp_ports = 25
local_interfaces = <; 0.0.0.0
exim_user = Debian-exim
exim_group = Debian-exim
spool_directory = %[1]s/spool
log_file_path = %[1]s/%%slog
rfc1413_hosts =
tls_advertise_hosts = *
tls_certificate = %[2]s
tls_privatekey = %[3]s
auth_advertise_hosts = *
acl_smtp_rcpt = refuse
begin acl
refuse:
  deny
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and{{eq{$auth2}{%[4]s}}{eq{$auth3}{%[5]s}}}}
  server_set_id = $auth2
`, dir, cert, key, smtpUser, secretPassword)
	config := filepath.Join(dir, "exim.conf")
	// Exim refuses a configuration others may write.
	if err := os.WriteFile(config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pod.Start(t, dir, exim, "-C", config, "-bdf")
	p.StopSignal = syscall.SIGTERM // it ignores SIGINT
	mainlog := filepath.Join(dir, "mainlog")
	testenv.Eventually(t, 30*time.Second, "Exim listening", func() bool {
		if p.Exited() {
			t.Fatalf("exim exited: %s", p.Output())
		}
		b, _ := os.ReadFile(mainlog)
		return strings.Contains(string(b), "listening for SMTP on")
	})
}
