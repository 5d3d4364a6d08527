package kubecmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/cluster"
	"github.com/hopseal/hopseal/internal/cli"
	"github.com/hopseal/hopseal/internal/kube/check"
)

type auditClusterOptions struct {
	kubeconfig, context, output    string
	hopsealNamespace, nodeSelector string
	instanceTable                  string
	namespaces                     []string
	maxLeafLifetime, timeout       time.Duration
}

func auditClusterCmd(_ *cli.Globals) *cobra.Command {
	o := &auditClusterOptions{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Gather configuration evidence from a Kubernetes cluster: plaintext hops, mesh coverage, NetworkPolicies, certificates, nodes",
		Long: `cluster reads the cluster's configuration (it changes nothing) and writes an
evidence file of findings, each with a severity, the controls it bears on
(NIST 800-53 SC-8, SC-12, SC-13, AC-4; PCI DSS 4.0 4.2.1, 4.2.1.1, 1.3.1;
HIPAA 164.312(e)) and a fix:

  exposure       load balancers and Ingresses that send plaintext to pods, or
                 end TLS without re-encrypting (AWS, ALB and ingress-nginx
                 annotations; the ports' appProtocol, names and numbers)
  mesh coverage  namespaces and pods without hopseal's proxy, permissive
                 MTLSPolicies, ports excluded from interception, hostNetwork
  networking     namespaces without default-deny NetworkPolicies, egress
                 denied without DNS, allow-all rules; the reachability
                 between namespaces (in the file's data)
  trust          hopseal's roots and signing CA: lifetime, days to expiry,
                 key and signature strength, chain, trust bundle copies,
                 workload certificate lifetime; an inventory of trusted
                 certificates and where keys are kept
  nodes          EC2 instance types with hardware encryption in transit
                 (a table with its source and date) and the node pairs
                 that rely on hopseal alone

It needs read access to namespaces, pods, services, ingresses,
networkpolicies, nodes, configmaps, hopseal's MTLSPolicies and the
controller's Deployment and CA Secrets (only the certificates are kept;
private keys are dropped as soon as they are read). What it may not read is
named in the file's "partial" field. 'hopseal audit report' turns evidence
files into reports and gates.`,
		Example: `  hopseal audit cluster -o cluster.json
  hopseal audit cluster --namespace shop --namespace payments --max-leaf-lifetime 12h
  hopseal audit cluster | jq '.findings[] | select(.severity == "high")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default the current one)")
	f.StringVarP(&o.output, "output", "o", "-", "evidence file to write; - for standard output")
	f.StringSliceVarP(&o.namespaces, "namespace", "n", nil, "scan only these namespaces (repeat or comma-separate); nodes and hopseal's CA are scanned either way (default every namespace)")
	f.StringVar(&o.hopsealNamespace, "hopseal-namespace", check.Namespace, "namespace of hopseal's control plane")
	f.StringVar(&o.nodeSelector, "node-selector", "", "label selector of the nodes to scan, e.g. eks.amazonaws.com/nodegroup=payments (default every node)")
	f.DurationVar(&o.maxLeafLifetime, "max-leaf-lifetime", cluster.DefaultMaxLeafLifetime, "longest acceptable lifetime of workload certificates")
	f.StringVar(&o.instanceTable, "instance-table", "", "YAML table of EC2 families with hardware encryption in transit, instead of the built-in one (same format as its nitro.yaml)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each request to the API server")
	return cmd
}

func (o *auditClusterOptions) run(cmd *cobra.Command) error {
	opts, err := o.scanOptions()
	if err != nil {
		return err
	}
	cfg, err := restConfig(o.kubeconfig, o.context)
	if err != nil {
		return err
	}
	cfg.Timeout = o.timeout
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	taken := time.Now()
	snap, err := cluster.Gather(cmd.Context(), cs, dyn, opts)
	if err != nil {
		return fmt.Errorf("audit cluster %s: %w (check the kubeconfig and that the API server is up: kubectl get --raw /readyz)", cfg.Host, err)
	}
	ev, err := cluster.Scan(snap, opts).Evidence(cfg.Host, taken, snap.Partial)
	if err != nil {
		return err
	}
	if err := o.write(cmd.OutOrStdout(), ev); err != nil {
		return err
	}
	summarize(cmd.ErrOrStderr(), ev, o.output)
	return nil
}

func (o *auditClusterOptions) scanOptions() (cluster.Options, error) {
	opts := cluster.Options{Namespaces: o.namespaces, HopsealNamespace: o.hopsealNamespace,
		NodeSelector: o.nodeSelector, MaxLeafLifetime: o.maxLeafLifetime}
	if o.maxLeafLifetime <= 0 {
		return opts, fmt.Errorf("--max-leaf-lifetime %s: give a positive duration such as 24h", o.maxLeafLifetime)
	}
	if o.hopsealNamespace == "" {
		return opts, fmt.Errorf("--hopseal-namespace is empty: give the namespace of hopseal's control plane (default %s)", check.Namespace)
	}
	if o.instanceTable != "" {
		data, err := os.ReadFile(o.instanceTable)
		if err != nil {
			return opts, fmt.Errorf("--instance-table: %w", err)
		}
		if opts.InstanceTable, err = cluster.ParseInstanceTable(data); err != nil {
			return opts, fmt.Errorf("--instance-table %s: %w", o.instanceTable, err)
		}
	}
	return opts, nil
}

// write puts the evidence on stdout, or in the --output file.
func (o *auditClusterOptions) write(stdout io.Writer, ev audit.Evidence) error {
	data, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if o.output == "-" {
		_, err = stdout.Write(data)
		return err
	}
	if err := os.WriteFile(o.output, data, 0o644); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}

// summaryLines caps the findings the summary names.
const summaryLines = 15

// summarize prints counts by severity and the worst findings.
func summarize(w io.Writer, ev audit.Evidence, output string) {
	n := map[audit.Severity]int{}
	for _, f := range ev.Findings {
		n[f.Severity]++
	}
	var counts []string
	for s := audit.Critical; s >= audit.Info; s-- {
		if n[s] > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	if len(counts) == 0 {
		counts = []string{"none"}
	}
	fmt.Fprintf(w, "cluster evidence of %s: %d findings (%s)\n", ev.Source, len(ev.Findings), strings.Join(counts, ", "))
	shown := 0
	for _, f := range ev.Findings { // sorted worst first
		if f.Severity < audit.Medium || shown == summaryLines {
			break
		}
		fmt.Fprintf(w, "  %-8s %s\n", f.Severity, f.Title)
		shown++
	}
	if rest := n[audit.Critical] + n[audit.High] + n[audit.Medium] - shown; rest > 0 {
		fmt.Fprintf(w, "  … and %d more at medium or above\n", rest)
	}
	if ev.Partial != "" {
		fmt.Fprintf(w, "partial: %s\n", ev.Partial)
	}
	if output != "-" {
		fmt.Fprintf(w, "evidence written to %s\n", output)
	}
}
