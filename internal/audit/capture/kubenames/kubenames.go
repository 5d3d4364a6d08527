// Package kubenames names the addresses in a capture after the Kubernetes
// pods and Services that hold them, so findings read "orders → payments".
// It is apart from package capture, which reads files without Kubernetes'
// libraries.
package kubenames

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/audit/capture"
)

// pageSize bounds each list request.
const pageSize = 500

// Load lists pods and Services in every namespace and maps their
// addresses: pod IPs to the pod's workload, cluster IPs to the Service.
// Pods on the host network share their node's address, so they name none.
func Load(ctx context.Context, client kubernetes.Interface) (*capture.Names, error) {
	n := &capture.Names{}
	err := eachPage(ctx, func(opts metav1.ListOptions) (string, error) {
		pods, err := client.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list pods: %w", err)
		}
		for i := range pods.Items {
			addPod(n, &pods.Items[i])
		}
		return pods.Continue, nil
	})
	if err != nil {
		return nil, err
	}
	err = eachPage(ctx, func(opts metav1.ListOptions) (string, error) {
		svcs, err := client.CoreV1().Services("").List(ctx, opts)
		if err != nil {
			return "", fmt.Errorf("list services: %w", err)
		}
		for i := range svcs.Items {
			addService(n, &svcs.Items[i])
		}
		return svcs.Continue, nil
	})
	return n, err
}

func eachPage(ctx context.Context, list func(metav1.ListOptions) (string, error)) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		next, err := list(opts)
		if err != nil {
			return fmt.Errorf("kubernetes: %w (the capture needs get and list on pods and services in every namespace)", err)
		}
		if next == "" {
			return ctx.Err()
		}
		opts.Continue = next
	}
}

func addPod(n *capture.Names, p *corev1.Pod) {
	if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	w := capture.Workload{Name: WorkloadName(p), Namespace: p.Namespace, Kind: "Pod"}
	ips := p.Status.PodIPs
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			n.Add(netip.PrefixFrom(a, a.BitLen()), w)
		}
	}
}

func addService(n *capture.Names, s *corev1.Service) {
	w := capture.Workload{Name: s.Name, Namespace: s.Namespace, Kind: "Service"}
	ips := s.Spec.ClusterIPs
	if len(ips) == 0 && s.Spec.ClusterIP != "" {
		ips = []string{s.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			n.Add(netip.PrefixFrom(a, a.BitLen()), w)
		}
	}
}

// WorkloadName is what people call a pod: its app.kubernetes.io/name or
// app label, else its controller's name (a Deployment's, for a pod of a
// ReplicaSet), else the pod's own name.
func WorkloadName(p *corev1.Pod) string {
	for _, l := range []string{"app.kubernetes.io/name", "app"} {
		if v := p.Labels[l]; v != "" {
			return v
		}
	}
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if o.Kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" {
				return strings.TrimSuffix(o.Name, "-"+h)
			}
		}
		return o.Name
	}
	return p.Name
}
