package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Kubelet runs pods' containers as a kubelet would, without one: each pod
// in a network namespace of a Net, its volumes (projected service-account
// tokens from the TokenRequest API, ConfigMaps, emptyDirs) bind-mounted at
// their mount paths in the container's own mount namespace, its
// environment resolved from the downward API, as the user its security
// context names. Images map to local binaries.
type Kubelet struct {
	Kube   *Kube
	Net    *Net
	Images map[string]string // image name without tag → binary
	// Hosts are /etc/hosts lines every pod gets (Service names, as the
	// cluster's DNS would answer them).
	Hosts map[string]string // name → IP
}

// KubePod is a pod the Kubelet runs.
type KubePod struct {
	Pod *corev1.Pod // as the API server stored it, with the IP the Kubelet gave it
	Net *Pod
	Dir string // volumes live here, one directory each
	// Tests that play an attacker set these before starting a container:
	// environment values instead of the pod's, and a token file's content
	// instead of one from the TokenRequest API.
	Env   map[string]string
	Token string
	kl    *Kubelet
}

// Admit gives a stored pod a network namespace and reports its IP to the
// API server (status.podIP, phase Running), as the kubelet does.
func (kl *Kubelet) Admit(t testing.TB, pod *corev1.Pod) *KubePod {
	t.Helper()
	np := kl.Net.AddPod(t, pod.Name)
	cs := kl.client(t)
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP, pod.Status.PodIPs = np.IP.String(), []corev1.PodIP{{IP: np.IP.String()}}
	stored, err := cs.CoreV1().Pods(pod.Namespace).UpdateStatus(kubeCtx(t), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("set the status of pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	dir := UserDir(t, Cred{UID: 0, GID: 0})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	kp := &KubePod{Pod: stored, Net: np, Dir: dir, kl: kl}
	kl.writeHosts(t, np)
	return kp
}

// writeHosts gives the pod's mount namespaces an /etc/hosts (ip netns exec
// bind-mounts /etc/netns/<ns>/hosts over it).
func (kl *Kubelet) writeHosts(t testing.TB, np *Pod) {
	t.Helper()
	dir := filepath.Join("/etc/netns", np.NS)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lines := []string{"127.0.0.1 localhost", "::1 localhost"}
	for name, ip := range kl.Hosts {
		lines = append(lines, ip+" "+name)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No name server: the machine's is not reachable from a pod, and
	// lookups would wait for it to time out.
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("options timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Container finds a container or init container by name.
func (kp *KubePod) Container(t testing.TB, name string) corev1.Container {
	t.Helper()
	for _, c := range append(slices.Clone(kp.Pod.Spec.InitContainers), kp.Pod.Spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod %s has no container %s", kp.Pod.Name, name)
	return corev1.Container{}
}

// RunToCompletion runs an init container and returns its output.
func (kp *KubePod) RunToCompletion(t testing.TB, name string) (string, error) {
	t.Helper()
	bin, args := kp.command(t, kp.Container(t, name))
	return Run(t, "", bin, args...)
}

// Start runs a (sidecar) container until test cleanup.
func (kp *KubePod) Start(t testing.TB, name string) *Proc {
	t.Helper()
	bin, args := kp.command(t, kp.Container(t, name))
	return Start(t, kp.Dir, bin, args...)
}

// command is `ip netns exec` of a shell that mounts the container's volumes
// and execs its program as its user with its environment.
func (kp *KubePod) command(t testing.TB, c corev1.Container) (string, []string) {
	t.Helper()
	image, _, _ := strings.Cut(c.Image, ":")
	bin, ok := kp.kl.Images[image]
	if !ok {
		t.Fatalf("container %s: no binary for image %s", c.Name, c.Image)
	}
	Reachable(t, bin)
	uid := int64(0)
	if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
		uid = *sc.RunAsUser
	}
	var script []string
	for _, m := range c.VolumeMounts {
		src := kp.volume(t, m.Name, uid)
		mountPoint(t, m.MountPath)
		script = append(script, fmt.Sprintf("mount --bind %q %q", src, m.MountPath))
	}
	exec := []string{"exec", "env", "-i"}
	for _, e := range c.Env {
		v, ok := kp.Env[e.Name]
		if !ok {
			v = kp.envValue(t, e)
		}
		exec = append(exec, strconv.Quote(e.Name+"="+v))
	}
	if uid != 0 {
		exec = append(exec, "setpriv", "--reuid="+strconv.FormatInt(uid, 10), "--regid="+strconv.FormatInt(uid, 10), "--clear-groups", "--")
	}
	exec = append(exec, strconv.Quote(bin))
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		exec = append(exec, strconv.Quote(a))
	}
	script = append(script, strings.Join(exec, " "))
	return "ip", []string{"netns", "exec", kp.Net.NS, "sh", "-c", strings.Join(script, " && ")}
}

func (kp *KubePod) envValue(t testing.TB, e corev1.EnvVar) string {
	t.Helper()
	if e.ValueFrom == nil {
		return e.Value
	}
	if f := e.ValueFrom.FieldRef; f != nil {
		switch f.FieldPath {
		case "metadata.name":
			return kp.Pod.Name
		case "metadata.namespace":
			return kp.Pod.Namespace
		case "status.podIP":
			return kp.Pod.Status.PodIP
		case "spec.serviceAccountName":
			return kp.Pod.Spec.ServiceAccountName
		}
	}
	t.Fatalf("env %s: unsupported source %+v", e.Name, e.ValueFrom)
	return ""
}

// volume materialises a volume of the pod in Dir and returns its path.
func (kp *KubePod) volume(t testing.TB, name string, uid int64) string {
	t.Helper()
	dir := filepath.Join(kp.Dir, "volumes", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range kp.Pod.Spec.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.EmptyDir != nil:
			if err := os.Chown(dir, int(uid), int(uid)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		case v.ConfigMap != nil:
			cm, err := kp.kl.client(t).CoreV1().ConfigMaps(kp.Pod.Namespace).Get(kubeCtx(t), v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("volume %s: %v", name, err)
			}
			for k, data := range cm.Data {
				writeFile(t, filepath.Join(dir, k), data, 0o644)
			}
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if sat := src.ServiceAccountToken; sat != nil {
					token := kp.Token
					if token == "" {
						token = kp.RequestToken(t, sat.Audience, sat.ExpirationSeconds)
					}
					writeFile(t, filepath.Join(dir, sat.Path), token, 0o644)
				}
			}
		default:
			t.Fatalf("volume %s: unsupported kind", name)
		}
		return dir
	}
	t.Fatalf("pod %s has no volume %s", kp.Pod.Name, name)
	return ""
}

// RequestToken asks the TokenRequest API for a token of the pod's service account,
// bound to the pod, as the kubelet does for a projected token volume.
func (kp *KubePod) RequestToken(t testing.TB, audience string, seconds *int64) string {
	t.Helper()
	ttl := int64(time.Hour / time.Second)
	if seconds != nil {
		ttl = *seconds
	}
	tr, err := kp.kl.client(t).CoreV1().ServiceAccounts(kp.Pod.Namespace).CreateToken(kubeCtx(t), kp.Pod.Spec.ServiceAccountName, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{
			Audiences: []string{audience}, ExpirationSeconds: &ttl,
			BoundObjectRef: &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: kp.Pod.Name, UID: kp.Pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for pod %s/%s: %v", kp.Pod.Namespace, kp.Pod.Name, err)
	}
	return tr.Status.Token
}

func (kl *Kubelet) client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(kl.Kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func kubeCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func writeFile(t testing.TB, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// mountPoint makes sure an empty directory is at path on the host for a
// container's mount (its mounts live in its own mount namespace), and
// removes what it made at cleanup.
func mountPoint(t testing.TB, path string) {
	t.Helper()
	var made []string
	for p := path; p != "/"; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		made = append(made, p)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range made {
			os.Remove(p) // only if empty: another pod of the test may still use it
		}
	})
}
