package kubecmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/kube/inject"
)

type injectOptions struct {
	cfg   inject.Config
	proxy proxyFlags
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
	o.proxy.register(f, "image", o.cfg)
	f.StringVar(&o.cfg.TrustDomain, "trust-domain", o.cfg.TrustDomain, "the mesh's trust domain")
	f.StringVar(&o.cfg.Controller, "controller", o.cfg.Controller, "host:port of the hopseal controller's gRPC service")
	f.StringVar(&o.proxy.version, "hopseal-version", cli.Version, "version recorded in the hopseal.io/injected annotation and used as the default image tag")
	return cmd
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
	if err := o.proxy.apply(&c); err != nil {
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
