package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// kubeIssuer is the service-account token issuer, as on most clusters.
const kubeIssuer = "https://kubernetes.default.svc.cluster.local"

// kubeReadyTimeout bounds startup: about 10 s on an idle 2-core machine,
// much more while other test packages compete for the cores.
const kubeReadyTimeout = 3 * time.Minute

// launchKube starts etcd and kube-apiserver from bin and waits for /readyz.
func launchKube(bin string) (_ *Kube, err error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "hopseal-kube-")
	if err != nil {
		return nil, err
	}
	k := &Kube{dir: dir, binDir: bin}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, k.logTails())
			k.stop()
		}
	}()
	if k.pki, err = newKubePKI(); err != nil {
		return nil, err
	}
	files, err := k.pki.write(dir)
	if err != nil {
		return nil, err
	}
	ports := make([]int, 3) // etcd client, etcd peer, apiserver
	for i := range ports {
		if ports[i], err = freeLoopbackPort(); err != nil {
			return nil, err
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	k.etcd, err = startKubeProc(dir, filepath.Join(bin, "etcd"), "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-url", etcdURL, "--listen-peer-url", fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		"--unsafe-no-fsync")
	if err != nil {
		return nil, err
	}
	k.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	k.CAPEM = k.pki.caPEM
	k.api, err = startKubeProc(dir, filepath.Join(bin, "kube-apiserver"), apiserverArgs(dir, etcdURL, ports[2], files)...)
	if err != nil {
		return nil, err
	}
	if err := k.waitReady(kubeReadyTimeout); err != nil {
		return nil, err
	}
	k.StartedIn = time.Since(start)
	k.Kubeconfig = filepath.Join(dir, "kubeconfig")
	return k, os.WriteFile(k.Kubeconfig, k.kubeconfig(), 0o600)
}

// apiserverArgs are kube-apiserver's flags; Kube's doc comment says why.
func apiserverArgs(dir, etcdURL string, port int, files map[string]string) []string {
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(dir, "certs"), // never the default under /var/run
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + kubeIssuer,
		"--api-audiences=" + kubeIssuer,
		"--service-cluster-ip-range=" + kubeServiceCIDR,
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
	}
	for _, flag := range slices.Sorted(maps.Keys(files)) {
		args = append(args, "--"+flag+"="+files[flag])
	}
	return args
}

// waitReady polls /readyz as the admin until it answers "ok", failing early
// if either process exits.
func (k *Kube) waitReady(timeout time.Duration) error {
	client, err := k.httpClient()
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if !k.alive() {
			return fmt.Errorf("a control-plane process exited during startup (last /readyz: %s)", last)
		}
		if last = k.probeReady(client); last == "ok" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s/readyz not ok after %s (last: %s)", k.Server, timeout, last)
}

func (k *Kube) probeReady(client *http.Client) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.Server+"/readyz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return strings.TrimSpace(string(body))
	}
	return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
}

// httpClient talks to the apiserver as the admin, trusting only its CA.
func (k *Kube) httpClient() (*http.Client, error) {
	cert, err := tls.X509KeyPair(k.pki.adminPEM, k.pki.adminKey)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(k.pki.caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
	}}}, nil
}

// kubeconfig is a self-contained admin kubeconfig (certificates inline).
func (k *Kube) kubeconfig() []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: hopseal-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: hopseal-test
  context:
    cluster: hopseal-test
    user: %s
current-context: hopseal-test
`, k.Server, b64(k.pki.caPEM), kubeAdminUser, b64(k.pki.adminPEM), b64(k.pki.adminKey), kubeAdminUser)
}
