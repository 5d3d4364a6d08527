package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	v1alpha1 "github.com/hopseal/hopseal/api/hopseal/v1alpha1"
	"github.com/hopseal/hopseal/internal/kube/castate"
	"github.com/hopseal/hopseal/internal/kube/check"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

// Options say what to scan and the bounds findings are judged by.
type Options struct {
	// Namespaces limits the scan of namespaced objects; empty: every
	// namespace. Nodes and hopseal's CA are scanned either way.
	Namespaces []string
	// HopsealNamespace is the control plane's (default hopseal-system).
	HopsealNamespace string
	// NodeSelector is a label selector of the nodes to scan; empty: all.
	NodeSelector string
	// MaxLeafLifetime: workload certificates may live this long (default
	// 24h); a longer --svid-ttl of the controller is a finding.
	MaxLeafLifetime time.Duration
	// InstanceTable lists the EC2 families with hardware encryption in
	// transit; nil: the table built into hopseal (NitroTable).
	InstanceTable *InstanceTable
	Now           func() time.Time
}

// DefaultMaxLeafLifetime is Options.MaxLeafLifetime's default.
const DefaultMaxLeafLifetime = 24 * time.Hour

func (o Options) withDefaults() Options {
	if o.HopsealNamespace == "" {
		o.HopsealNamespace = check.Namespace
	}
	if o.MaxLeafLifetime == 0 {
		o.MaxLeafLifetime = DefaultMaxLeafLifetime
	}
	if o.InstanceTable == nil {
		o.InstanceTable = NitroTable()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Snapshot is what the scan reads, listed before any check runs so that
// the checks are pure functions of it.
type Snapshot struct {
	Namespaces      []corev1.Namespace // every namespace: selectors read their labels
	Pods            []corev1.Pod
	Services        []corev1.Service
	Ingresses       []networkingv1.Ingress
	NetworkPolicies []networkingv1.NetworkPolicy
	MTLSPolicies    []v1alpha1.MTLSPolicy
	Nodes           []corev1.Node
	// DNSPods are kube-system's kube-dns pods, the destination of the DNS
	// check even when kube-system is not scanned.
	DNSPods    []corev1.Pod
	Controller *appsv1.Deployment // nil when absent
	CA         *SecretCerts       // hopseal's CA Secret; nil when absent or unreadable
	RootCA     *SecretCerts       // the user's root (--root-ca-secret), if any
	Bundles    []corev1.ConfigMap // trust bundle ConfigMaps, control plane's first
	// Partial says what could not be read, for Evidence.Partial.
	Partial []string
}

// SecretCerts is a Secret's certificates. Private keys are dropped as soon
// as the Secret is read: only the names of their keys are kept.
type SecretCerts struct {
	Namespace, Name string
	Certs           map[string][]byte // key → PEM, for ca.crt, tls.crt and root.crt
	PrivateKeys     []string          // keys holding private keys (tls.key, root.key)
}

// Gather lists what the scan reads. Objects the caller may not read are
// noted in Partial; any other failure is an error.
func Gather(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, o Options) (*Snapshot, error) {
	o = o.withDefaults()
	s := &Snapshot{}
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	s.Namespaces = nss.Items
	for _, st := range gatherSteps(ctx, cs, dyn, o, s) {
		if err := st.run(); apierrors.IsForbidden(err) {
			s.Partial = append(s.Partial, fmt.Sprintf("cannot read %s: %v", st.what, err))
		} else if err != nil {
			return nil, fmt.Errorf("read %s: %w", st.what, err)
		}
	}
	return s, nil
}

type gatherStep struct {
	what string // for messages: "cannot read <what>"
	run  func() error
}

// gatherSteps fill s, one kind of object each. A step whose objects may
// not be read fails with Forbidden; the others go on.
func gatherSteps(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, o Options, s *Snapshot) []gatherStep {
	return []gatherStep{
		{"pods", func() (err error) {
			s.Pods, err = listScoped(o, func(ns string) ([]corev1.Pod, error) {
				l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				return items(l, err, func(l *corev1.PodList) []corev1.Pod { return l.Items })
			})
			return err
		}},
		{"services", func() (err error) {
			s.Services, err = listScoped(o, func(ns string) ([]corev1.Service, error) {
				l, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
				return items(l, err, func(l *corev1.ServiceList) []corev1.Service { return l.Items })
			})
			return err
		}},
		{"ingresses", func() (err error) {
			s.Ingresses, err = listScoped(o, func(ns string) ([]networkingv1.Ingress, error) {
				l, err := cs.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
				return items(l, err, func(l *networkingv1.IngressList) []networkingv1.Ingress { return l.Items })
			})
			return err
		}},
		{"networkpolicies", func() (err error) {
			s.NetworkPolicies, err = listScoped(o, func(ns string) ([]networkingv1.NetworkPolicy, error) {
				l, err := cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
				return items(l, err, func(l *networkingv1.NetworkPolicyList) []networkingv1.NetworkPolicy { return l.Items })
			})
			return err
		}},
		{"mtlspolicies.hopseal.io", func() (err error) {
			s.MTLSPolicies, err = listScoped(o, func(ns string) ([]v1alpha1.MTLSPolicy, error) { return mtlsPolicies(ctx, dyn, ns) })
			return err
		}},
		{"nodes", func() error {
			l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: o.NodeSelector})
			s.Nodes, err = items(l, err, func(l *corev1.NodeList) []corev1.Node { return l.Items })
			return err
		}},
		{"kube-dns pods", func() error {
			l, err := cs.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
			s.DNSPods, err = items(l, err, func(l *corev1.PodList) []corev1.Pod { return l.Items })
			return err
		}},
		{"Deployment " + o.HopsealNamespace + "/" + check.Controller, func() error { return gatherController(ctx, cs, o, s) }},
		{"hopseal's CA Secrets", func() error { return gatherSecrets(ctx, cs, o, s) }},
		{"trust bundle ConfigMaps", func() error { return gatherBundles(ctx, cs, o, s) }},
	}
}

// listScoped lists in every namespace, or in each of o.Namespaces.
func listScoped[T any](o Options, list func(ns string) ([]T, error)) ([]T, error) {
	if len(o.Namespaces) == 0 {
		return list(metav1.NamespaceAll)
	}
	var out []T
	for _, ns := range o.Namespaces {
		l, err := list(ns)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

func items[L any, T any](l L, err error, get func(L) []T) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return get(l), nil
}

var mtlsResource = v1alpha1.GroupVersion.WithResource("mtlspolicies")

// mtlsPolicies lists MTLSPolicies; none when the CRD is not installed.
func mtlsPolicies(ctx context.Context, dyn dynamic.Interface, ns string) ([]v1alpha1.MTLSPolicy, error) {
	l, err := dyn.Resource(mtlsResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]v1alpha1.MTLSPolicy, len(l.Items))
	for i := range l.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.Items[i].Object, &out[i]); err != nil {
			return nil, fmt.Errorf("MTLSPolicy %s/%s: %w", l.Items[i].GetNamespace(), l.Items[i].GetName(), err)
		}
	}
	return out, nil
}

// gatherController reads the controller Deployment, whose flags name the
// CA Secrets and the workload certificates' lifetime; nil when absent.
func gatherController(ctx context.Context, cs kubernetes.Interface, o Options, s *Snapshot) error {
	d, err := cs.AppsV1().Deployments(o.HopsealNamespace).Get(ctx, check.Controller, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	s.Controller = d
	return err
}

// gatherSecrets reads hopseal's CA Secret and the user's root Secret.
func gatherSecrets(ctx context.Context, cs kubernetes.Interface, o Options, s *Snapshot) (err error) {
	name := check.ControllerFlag(s.Controller, "--ca-secret")
	if name == "" {
		name = castate.DefaultName
	}
	if s.CA, err = secretCerts(ctx, cs, o.HopsealNamespace, name); err != nil {
		return err
	}
	if root := check.ControllerFlag(s.Controller, "--root-ca-secret"); root != "" {
		s.RootCA, err = secretCerts(ctx, cs, o.HopsealNamespace, root)
	}
	return err
}

// gatherBundles reads the trust bundle ConfigMaps: the control plane's
// first, then the copies in scanned namespaces.
func gatherBundles(ctx context.Context, cs kubernetes.Interface, o Options, s *Snapshot) error {
	l, err := cs.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + inject.BundleConfigMap})
	if err != nil {
		return err
	}
	for _, cm := range l.Items {
		if cm.Namespace == o.HopsealNamespace {
			s.Bundles = append([]corev1.ConfigMap{cm}, s.Bundles...)
		} else if inScope(o, cm.Namespace) {
			s.Bundles = append(s.Bundles, cm)
		}
	}
	return nil
}

func secretCerts(ctx context.Context, cs kubernetes.Interface, ns, name string) (*SecretCerts, error) {
	sec, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := &SecretCerts{Namespace: ns, Name: name, Certs: map[string][]byte{}}
	for k, v := range sec.Data {
		switch k {
		case castate.KeyBundle, castate.KeyCert, castate.KeyRootCrt:
			out.Certs[k] = v
		case castate.KeyKey, castate.KeyRootKey:
			out.PrivateKeys = append(out.PrivateKeys, k)
		}
	}
	clear(sec.Data)
	slices.Sort(out.PrivateKeys)
	return out, nil
}

func inScope(o Options, ns string) bool {
	return len(o.Namespaces) == 0 || slices.Contains(o.Namespaces, ns)
}
