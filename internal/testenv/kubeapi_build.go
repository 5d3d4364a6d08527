package testenv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// The Kubernetes binaries come from the nested module tools/kube, which pins
// k8s.io/kubernetes (kube-apiserver) and etcd's embed package (tools/kube/cmd/etcd)
// so the main module never depends on k8s.io/kubernetes.
const kubeModuleDir = "tools/kube"

// kubeBinaries are the programs KubeBinaries provides, by file name.
var kubeBinaries = []string{"kube-apiserver", "etcd", "kubectl"}

// ErrKubeBuildImpossible marks a build that cannot run here at all (no go
// command, no tools/kube module); callers skip rather than fail on it.
var ErrKubeBuildImpossible = errors.New("kube binaries cannot be built here")

// KubeBinaries returns a directory holding kube-apiserver, etcd and kubectl.
//
// HOPSEAL_KUBE_BIN_DIR names prebuilt ones. Otherwise they are built with
// `go build` inside tools/kube, once per cache key (a hash of tools/kube's
// go.mod, go.sum and sources, the build flags and the Go version), into
// os.UserCacheDir()/hopseal-test/kube/<key>; a lock file makes concurrent
// test processes wait for one build instead of running two. The first build
// takes minutes; build output goes to log.
func KubeBinaries(log io.Writer) (string, error) {
	if dir := os.Getenv("HOPSEAL_KUBE_BIN_DIR"); dir != "" {
		return dir, haveKubeBinaries(dir)
	}
	src := filepath.Join(repoRoot(), kubeModuleDir)
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("%w: %v", ErrKubeBuildImpossible, err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrKubeBuildImpossible, err)
	}
	version, err := KubeVersion()
	if err != nil {
		return "", err
	}
	ldflags := kubeLdflags(version)
	key, err := kubeCacheKey(src, ldflags)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kube binaries: no cache directory (set HOME or XDG_CACHE_HOME): %w", err)
	}
	root := filepath.Join(cache, "hopseal-test", "kube")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(root, key+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	dir := filepath.Join(root, key)
	if haveKubeBinaries(dir) == nil {
		return dir, nil
	}
	return dir, buildKube(src, dir, ldflags, log)
}

// buildKube builds into a fresh directory beside dir, then renames it into
// place, so dir only ever holds a complete set.
func buildKube(src, dir, ldflags string, log io.Writer) error {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "building-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(log, "building kube-apiserver, etcd and kubectl in %s (minutes the first time) ...\n", src)
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", tmp+string(filepath.Separator),
		"k8s.io/kubernetes/cmd/kube-apiserver", "./cmd/etcd", "k8s.io/kubernetes/cmd/kubectl")
	cmd.Dir = src
	// Static binaries, as upstream releases them; no C toolchain needed.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS="+kubeGOFLAGS())
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build kube binaries in %s: %w (run `go build ./...` there to see why)", src, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	os.RemoveAll(dir)
	return os.Rename(tmp, dir)
}

// kubeGOFLAGS keeps only the parallelism (-p) of the caller's GOFLAGS: flags
// such as -race would change the binaries without changing the cache key.
// No VCS stamping: the binaries are named by their module versions.
func kubeGOFLAGS() string {
	flags := []string{"-buildvcs=false"}
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if strings.HasPrefix(f, "-p=") {
			flags = append(flags, f)
		}
	}
	return strings.Join(flags, " ")
}

func haveKubeBinaries(dir string) error {
	for _, name := range kubeBinaries {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("kube binaries: %s is missing in %s (HOPSEAL_KUBE_BIN_DIR must hold %s)",
				name, dir, strings.Join(kubeBinaries, ", "))
		}
	}
	return nil
}

// kubeLdflags stamps the release version: without it the server reports
// v0.0.0-master and clients see a nonsense version.
func kubeLdflags(version string) string {
	v := strings.Split(strings.TrimPrefix(version, "v"), ".")
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags, "-X", pkg+".gitVersion="+version, "-X", pkg+".gitMajor="+v[0],
			"-X", pkg+".gitMinor="+v[1], "-X", pkg+".gitTreeState=clean")
	}
	return strings.Join(flags, " ")
}

func kubeCacheKey(src, ldflags string) (string, error) {
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("%w: go env GOVERSION: %v", ErrKubeBuildImpossible, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s/%s\n", strings.TrimSpace(string(goVersion)), ldflags, runtime.GOOS, runtime.GOARCH)
	for _, f := range []string{"go.mod", "go.sum", "cmd/etcd/main.go"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// KubeVersion is the k8s.io/kubernetes version tools/kube/go.mod pins.
func KubeVersion() (string, error) {
	path := filepath.Join(repoRoot(), kubeModuleDir, "go.mod")
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "k8s.io/kubernetes" && strings.HasPrefix(fields[1], "v1.") {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("%s: no k8s.io/kubernetes v1.x requirement", path)
}

// lockFile holds an exclusive flock on path until the returned func runs.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// repoRoot is the directory holding the main module's go.mod.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
