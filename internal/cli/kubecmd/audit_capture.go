package kubecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/capture"
	"github.com/hopseal/hopseal/internal/audit/capture/kubenames"
	"github.com/hopseal/hopseal/internal/cli"
)

type auditCaptureOptions struct {
	iface, filter, hosts, output string
	kubernetes                   bool
	kubeconfig, context          string
	count                        int64
	duration, progress, idle     time.Duration
	meshPorts                    []uint
	streamBytes, maxConns        int
}

func auditCaptureCmd(_ *cli.Globals) *cobra.Command {
	o := &auditCaptureOptions{}
	cmd := &cobra.Command{
		Use:   "capture [FILE...]",
		Short: "Show which hops of captured traffic are encrypted, and which are not",
		Long: `capture reads packet captures (pcap or pcapng, as tcpdump -w, tshark -w and
kubectl sniff write them, gzip-compressed or not), or captures live from an
interface with -i, and tells for each TCP connection what it speaks:

  TLS              version, cipher suite, key exchange group, SNI, ALPN, and
                   whether a TLS 1.2 server asked for a client certificate
  hopseal mTLS     ALPN hopseal/1 (or a port given with --mesh-port)
  SSH              encrypted; the banner names the software
  plaintext        HTTP/1.x, HTTP/2 (prior knowledge), PostgreSQL, MySQL,
                   Redis, SMTP, DNS over TCP, or other readable text: each
                   quoted briefly, with credentials masked
  upgraded         PostgreSQL SSLRequest, MySQL SSL, SMTP STARTTLS
  unrecognised     bytes of no protocol known here

It writes one evidence document (JSON, kind "capture") to -o or stdout, for
'hopseal audit report', and a summary to stderr. Addresses are named after
workloads from a hosts file (--hosts) and, with --kubernetes or --kubeconfig,
after the cluster's pods and Services, so findings read
"orders → payments: plaintext HTTP".

--filter selects packets with a subset of tcpdump's language:
  host ADDR, net CIDR, port N, portrange N-M (each optionally after src or
  dst), tcp, udp, ip, ip6, combined with and, or, not and parentheses.

Only the first --stream-bytes of each direction are kept, and only until the
connection is classified, so captures of any size fit in bounded memory.
A capture that is cut short or damaged still yields evidence of what came
before; the evidence says why it is partial and the command exits 1.`,
		Example: `  tcpdump -i eth0 -w shop.pcap 'tcp'      # elsewhere, then:
  hopseal audit capture shop.pcap --hosts hosts.yaml -o capture.json
  hopseal audit capture -i eth0 --duration 60s --filter 'tcp and not port 22' --kubernetes
  kubectl sniff orders-7d9f -o orders.pcap && hopseal audit capture orders.pcap --kubeconfig ~/.kube/config`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.iface, "interface", "i", "", `capture live from this interface ("any" for all); needs root or CAP_NET_RAW`)
	f.StringVarP(&o.filter, "filter", "f", "", `packets to analyse, e.g. "tcp and not port 22"`)
	f.Int64VarP(&o.count, "count", "c", 0, "stop after this many packets passed the filter (0: no limit)")
	f.DurationVar(&o.duration, "duration", 0, "live capture: stop after this long (0: until interrupted)")
	f.StringVar(&o.hosts, "hosts", "", "YAML file naming addresses: hosts: [{name: orders, namespace: shop, addresses: [10.0.1.5, 10.0.2.0/24]}]")
	f.BoolVar(&o.kubernetes, "kubernetes", false, "name addresses after the cluster's pods and Services (kubeconfig as kubectl finds it)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; implies --kubernetes")
	f.StringVar(&o.context, "context", "", "kubeconfig context (default the current one)")
	f.UintSliceVar(&o.meshPorts, "mesh-port", nil, "server ports where hopseal's proxies take mTLS (for connections whose handshake the capture missed)")
	f.StringVarP(&o.output, "output", "o", "-", "evidence file to write (- for stdout)")
	f.DurationVar(&o.progress, "progress", 5*time.Second, "print progress to stderr this often on long runs (0: never)")
	f.IntVar(&o.streamBytes, "stream-bytes", 8<<10, "bytes kept from the start of each direction of a connection")
	f.IntVar(&o.maxConns, "max-connections", 1<<16, "connections tracked at once; the oldest are classified early beyond it")
	f.DurationVar(&o.idle, "idle-timeout", 2*time.Minute, "capture time after which a silent connection is closed")
	return cmd
}

func (o *auditCaptureOptions) validate(files []string) error {
	switch {
	case o.iface != "" && len(files) > 0:
		return errors.New("give capture files or --interface, not both")
	case o.iface == "" && len(files) == 0:
		return errors.New("give capture files to read, or --interface to capture live (see --help)")
	case o.duration < 0 || o.count < 0:
		return errors.New("--duration and --count must not be negative")
	case o.duration > 0 && o.iface == "":
		return errors.New("--duration applies to live capture (--interface); for files, use --count or --filter")
	case o.streamBytes < 512 || o.streamBytes > 1<<20:
		return fmt.Errorf("--stream-bytes %d: use 512 to 1048576", o.streamBytes)
	case o.maxConns < 16:
		return fmt.Errorf("--max-connections %d: use at least 16", o.maxConns)
	}
	for _, p := range o.meshPorts {
		if p == 0 || p > 65535 {
			return fmt.Errorf("--mesh-port %d: use a port from 1 to 65535", p)
		}
	}
	return nil
}

func (o *auditCaptureOptions) ports() []uint16 {
	out := make([]uint16, 0, len(o.meshPorts))
	for _, p := range o.meshPorts {
		out = append(out, uint16(p))
	}
	return out
}

func (o *auditCaptureOptions) run(cmd *cobra.Command, files []string) error {
	if err := o.validate(files); err != nil {
		return err
	}
	filter, err := capture.ParseFilter(o.filter)
	if err != nil {
		return fmt.Errorf("--filter: %w", err)
	}
	names, err := o.names(cmd.Context())
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	opts := capture.Options{Filter: filter, Count: o.count, StreamBytes: o.streamBytes, MaxConnections: o.maxConns,
		IdleTimeout: o.idle, MeshPorts: o.ports(), Names: names, ProgressEvery: o.progress}
	if o.progress > 0 {
		opts.Progress = stderr
	}
	taken := time.Now()
	a := capture.NewAnalyzer(opts)
	var readErr error
	if o.iface != "" {
		readErr = o.live(cmd.Context(), a)
	} else {
		readErr = readFiles(cmd.Context(), a, files)
	}
	res := a.Result()
	ev, err := res.Evidence(taken)
	if err != nil {
		return err
	}
	if err := writeEvidence(cmd.OutOrStdout(), o.output, ev); err != nil {
		return err
	}
	printSummary(stderr, res, ev, o.output)
	if readErr != nil {
		return fmt.Errorf("%w (the evidence covers what was read before; it is marked partial)", readErr)
	}
	return nil
}

// names builds the address → workload resolver from the hosts file and,
// if asked, the cluster.
func (o *auditCaptureOptions) names(ctx context.Context) (capture.Resolver, error) {
	var chain capture.Chain
	if o.hosts != "" {
		n, err := capture.LoadHosts(o.hosts)
		if err != nil {
			return nil, err
		}
		chain = append(chain, n)
	}
	if o.kubernetes || o.kubeconfig != "" {
		cfg, err := restConfig(o.kubeconfig, o.context)
		if err != nil {
			return nil, err
		}
		cfg.Timeout = 30 * time.Second
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		n, err := kubenames.Load(ctx, client)
		if err != nil {
			return nil, err
		}
		chain = append(chain, n)
	}
	if len(chain) == 0 {
		return nil, nil
	}
	return chain, nil
}

func readFiles(ctx context.Context, a *capture.Analyzer, files []string) error {
	var errs []error
	for _, f := range files {
		src, err := capture.OpenFile(f)
		if err != nil {
			a.Interrupted(err.Error())
			errs = append(errs, err)
			continue
		}
		err = a.Run(ctx, src)
		src.Close()
		if ctx.Err() != nil {
			a.Interrupted("interrupted while reading " + f)
			return fmt.Errorf("interrupted while reading %s", f)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// live captures until the duration, the packet count or an interrupt ends
// it: each is a normal end.
func (o *auditCaptureOptions) live(ctx context.Context, a *capture.Analyzer) error {
	src, err := capture.OpenLive(o.iface)
	if err != nil {
		a.Interrupted(err.Error())
		return err
	}
	defer src.Close()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	err = a.Run(ctx, src)
	if d := src.Drops(); d > 0 {
		a.Interrupted(fmt.Sprintf("the kernel dropped %d packets: capture fewer (--filter) or for less time", d))
	}
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func writeEvidence(stdout io.Writer, path string, ev audit.Evidence) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ev); err != nil {
		return err
	}
	b := buf.Bytes()
	if path == "-" || path == "" {
		_, err := stdout.Write(b)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write evidence: %w", err)
	}
	_, werr := tmp.Write(b)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	return nil
}

// maxSummaryLines bounds the findings listed on stderr.
const maxSummaryLines = 20

func printSummary(w io.Writer, r *capture.Result, ev audit.Evidence, output string) {
	fmt.Fprintf(w, "capture: %d packets, %d TCP connections in %d flows from %s\n",
		r.Stats.Packets, r.Stats.Connections, len(r.Flows), strings.Join(r.Sources, ", "))
	info, listed := 0, 0
	for _, f := range ev.Findings {
		if f.Severity == audit.Info {
			info++
			continue
		}
		if listed++; listed <= maxSummaryLines {
			fmt.Fprintf(w, "  %-8s %s\n", f.Severity, f.Title)
		}
	}
	if listed > maxSummaryLines {
		fmt.Fprintf(w, "  … and %d more findings in the evidence\n", listed-maxSummaryLines)
	}
	if listed == 0 {
		fmt.Fprintln(w, "  no unencrypted or weakly encrypted hop found")
	}
	fmt.Fprintf(w, "  %d facts recorded (encrypted hops and the like)\n", info)
	if ev.Partial != "" {
		fmt.Fprintf(w, "partial evidence: %s\n", ev.Partial)
	}
	if output != "-" && output != "" {
		fmt.Fprintf(w, "evidence written to %s\n", output)
	}
}
