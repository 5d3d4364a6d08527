package kubecmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

type injectOptions struct {
	cfg                            inject.Config
	version                        string
	cpuReq, memReq, cpuLim, memLim string
}

func injectCmd(*cli.Globals) *cobra.Command {
	o := &injectOptions{cfg: inject.Defaults(cli.Version)}
	cmd := &cobra.Command{
		Use:   "inject FILE|- ...",
		Short: "Add the hopseal proxy to the workloads in Kubernetes YAML, offline (as the admission webhook does)",
		Long: `inject reads Kubernetes YAML or JSON (files, or - for standard input), adds
hopseal's init container and proxy sidecar to every Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job and CronJob
(also inside a List), and writes the result to standard output. It injects
every workload except those annotated hopseal.io/inject: disabled, those
already injected, and hostNetwork pods; the webhook leaves the output alone.

Documents it does not change are copied as they are. Changed documents are
rewritten with their keys sorted, and their comments are lost.

Standard error gets one line per object, e.g. "deployment/web injected" or
"pod/x skipped: hostNetwork ...". Pod annotations such as
hopseal.io/exclude-inbound-ports work as they do with the webhook.`,
		Example: `  hopseal inject deploy.yaml | kubectl apply -f -
  kubectl get deploy -n shop -o yaml | hopseal inject - | kubectl apply -f -
  hopseal inject --image registry.example/hopseal:v0.4.0 a.yaml b.yaml > meshed.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.cfg.Image, "image", "", "hopseal image for the init container and the proxy (default hopseal/proxy:<hopseal-version>)")
	f.StringVar((*string)(&o.cfg.ImagePullPolicy), "image-pull-policy", string(o.cfg.ImagePullPolicy), "Always, IfNotPresent or Never")
	f.StringVar(&o.cfg.TrustDomain, "trust-domain", o.cfg.TrustDomain, "the mesh's trust domain")
	f.StringVar(&o.cfg.Controller, "controller", o.cfg.Controller, "host:port of the hopseal controller's gRPC service")
	f.StringVar(&o.version, "hopseal-version", cli.Version, "version recorded in the hopseal.io/injected annotation and used as the default image tag")
	f.StringVar(&o.cpuReq, "proxy-cpu-request", quantity(o.cfg.ProxyResources.Requests, corev1.ResourceCPU), "the proxy's CPU request")
	f.StringVar(&o.memReq, "proxy-memory-request", quantity(o.cfg.ProxyResources.Requests, corev1.ResourceMemory), "the proxy's memory request")
	f.StringVar(&o.cpuLim, "proxy-cpu-limit", quantity(o.cfg.ProxyResources.Limits, corev1.ResourceCPU), `the proxy's CPU limit ("" for none)`)
	f.StringVar(&o.memLim, "proxy-memory-limit", quantity(o.cfg.ProxyResources.Limits, corev1.ResourceMemory), `the proxy's memory limit ("" for none)`)
	return cmd
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := l[name]; ok {
		return q.String()
	}
	return ""
}

func (o *injectOptions) run(cmd *cobra.Command, args []string) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for i, name := range args {
		data, label, err := readInput(cmd.InOrStdin(), name)
		if err != nil {
			return err
		}
		injected, results, err := inject.YAML(cfg, data)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		if i > 0 && out.Len() > 0 && len(injected) > 0 {
			out.WriteString("---\n")
		}
		out.Write(injected)
		for _, r := range results {
			prefix := ""
			if len(args) > 1 {
				prefix = label + ": "
			}
			fmt.Fprintln(cmd.ErrOrStderr(), prefix+r.String())
			for _, w := range r.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), prefix+"  warning: "+w)
			}
		}
	}
	_, err = cmd.OutOrStdout().Write(out.Bytes())
	return err
}

// config is the Config the flags describe, checked.
func (o *injectOptions) config() (inject.Config, error) {
	c := o.cfg
	c.Version = o.version
	if c.Image == "" {
		c.Image = "hopseal/proxy:" + o.version
	}
	c.ProxyResources = corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	var errs []error
	for _, q := range []struct {
		flag, value string
		list        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--proxy-cpu-request", o.cpuReq, c.ProxyResources.Requests, corev1.ResourceCPU},
		{"--proxy-memory-request", o.memReq, c.ProxyResources.Requests, corev1.ResourceMemory},
		{"--proxy-cpu-limit", o.cpuLim, c.ProxyResources.Limits, corev1.ResourceCPU},
		{"--proxy-memory-limit", o.memLim, c.ProxyResources.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a quantity: write for example 100m for CPU or 64Mi for memory", q.flag, q.value))
			continue
		}
		q.list[q.name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("check the flags (each problem names its flag):\n%w", err)
	}
	return c, nil
}

func readInput(stdin io.Reader, name string) ([]byte, string, error) {
	if name == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, "", fmt.Errorf("read standard input: %w", err)
		}
		return data, "stdin", nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	return data, strings.TrimSpace(name), nil
}
