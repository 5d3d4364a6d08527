// Command bench measures hopseal's data path side by side with plaintext
// and a stunnel pair in one run, and prints a table of ratios per topology:
//
//	loopback:    everything on loopback, hopseal with explicit listeners
//	transparent: pods (network namespaces) on a bridge, hopseal intercepting
//	             with init-net rules, as a pod's sidecar (see topology.go)
//	gateway:     hopseal gateway, nginx and haproxy as the edge before the
//	             same backend, on loopback (see gateway.go; not in the
//	             default list: it is a run of its own)
//
// Every proxy and the app are real processes; the load generator runs
// here (inside the client pod for the transparent topology). Rounds
// interleave the three paths and the tables show medians, because a shared
// machine is noisy. scripts/bench.sh installs stunnel and runs this.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	hopseal, stunnel string
	nginx, haproxy   string
	gwClients        int    // keep-alive clients of the gateway topology's saturation runs
	hopsealProxy     string // the data plane binary, for the proxies and init-net
	topologies       []string
	bulk, latency    time.Duration
	handshake        time.Duration
	rounds           int
	rates            []int
	conns, clients   int
	idle, idleWanted int
	streams          []int
	doc              string
	env              []string // for the hopseal proxies
	command          string   // how to repeat the run, for the report
	loadAtStart      string
	soak             string // a path to load for profiling instead of measuring
	soakFor          time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := func() error {
		defer stop()
		if len(os.Args) >= 3 && os.Args[1] == "-serve-app" {
			return serveApp(os.Args[2:])
		}
		o, err := parseFlags(os.Args[1:])
		if err != nil {
			return err
		}
		return runBench(ctx, o)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.hopseal, "hopseal", "", "hopseal binary, for the CA (default: build ./cmd/hopseal)")
	fs.StringVar(&o.hopsealProxy, "hopseal-proxy", "", "hopseal-proxy binary, for the proxies and init-net, as sidecars run it (default: build ./cmd/hopseal-proxy)")
	fs.StringVar(&o.stunnel, "stunnel", "stunnel4", "stunnel binary")
	fs.StringVar(&o.nginx, "nginx", "nginx", "nginx binary (gateway topology)")
	fs.StringVar(&o.haproxy, "haproxy", "haproxy", "haproxy binary (gateway topology)")
	fs.IntVar(&o.gwClients, "gateway-clients", 16, "keep-alive clients of the gateway topology's saturation runs")
	topo := fs.String("topology", "loopback,transparent", "topologies to measure, comma-separated: loopback (explicit listeners), transparent (pods with init-net; needs root), gateway (hopseal gateway, nginx and haproxy; not in the default list)")
	fs.DurationVar(&o.bulk, "duration", 2*time.Second, "length of each throughput measurement (gateway topology: of each saturation run)")
	fs.DurationVar(&o.latency, "latency-duration", 2500*time.Millisecond, "length of each latency measurement (after a 0.5 s warm-up)")
	fs.DurationVar(&o.handshake, "handshake-duration", 2*time.Second, "length of each handshake-rate measurement")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds over the three paths; the table shows medians (0: measure only the memory of idle connections)")
	rates := fs.String("rates", "1000,4000", "request rates of the latency measurements, per second, comma-separated")
	fs.IntVar(&o.conns, "conns", 4, "keep-alive connections the requests are spread over")
	fs.IntVar(&o.clients, "clients", 8, "parallel clients of the handshake-rate measurement")
	fs.IntVar(&o.idleWanted, "idle", 10000, "idle connections held open through each pair for the memory measurement (0: skip it)")
	env := fs.String("hopseal-env", "", "environment of the hopseal proxies, e.g. GOMAXPROCS=1,GOGC=200 (to study runtime settings)")
	streams := fs.String("streams", "1,8", "parallel streams of each throughput measurement, comma-separated")
	fs.StringVar(&o.soak, "soak", "", "for profiling: load only this path (plaintext, hopseal or stunnel) with HTTP requests at the first -rates rate for -soak-duration, after printing the proxies' PIDs (for perf or strace), then hold -idle connections open as long")
	fs.DurationVar(&o.soakFor, "soak-duration", 30*time.Second, "length of a -soak run")
	fs.StringVar(&o.doc, "doc", "", "also write the results into this Markdown file, between its bench:<topology> markers")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var extra []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "hopseal" && f.Name != "hopseal-proxy" && f.Name != "doc" { // temporary builds; the script's own option
			extra = append(extra, "-"+f.Name, f.Value.String())
		}
	})
	o.command = "scripts/bench.sh"
	if o.doc != "" {
		o.command += " --update-doc"
	}
	if len(extra) > 0 {
		o.command += " -- " + strings.Join(extra, " ")
	}
	var err error
	if o.streams, err = positiveInts("-streams", *streams); err != nil {
		return o, err
	}
	if o.rates, err = positiveInts("-rates", *rates); err != nil {
		return o, err
	}
	for _, t := range strings.Split(*topo, ",") {
		if t = strings.TrimSpace(t); t != loopback && t != transparent && t != gateway {
			return o, fmt.Errorf("-topology %q: want loopback, transparent or gateway, comma-separated", *topo)
		}
		o.topologies = append(o.topologies, t)
	}
	if *env != "" {
		o.env = strings.Split(*env, ",")
	}
	if o.rounds < 0 || o.conns < 1 || o.clients < 1 || o.gwClients < 1 || o.idleWanted < 0 {
		return o, fmt.Errorf("-conns, -clients and -gateway-clients must be at least 1, -rounds and -idle at least 0")
	}
	o.idle = min(o.idleWanted, maxIdle())
	tools := map[string]string{}
	if slices.ContainsFunc(o.topologies, func(t string) bool { return t != gateway }) {
		tools["-stunnel"] = o.stunnel
	}
	if slices.Contains(o.topologies, gateway) {
		tools["-nginx"], tools["-haproxy"] = o.nginx, o.haproxy
	}
	for flag, bin := range tools {
		if _, err := exec.LookPath(bin); err != nil {
			return o, fmt.Errorf("%s %s: %w; install it with scripts/install-test-deps.sh", flag, bin, err)
		}
	}
	return o, nil
}

func positiveInts(flag, list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: want positive integers separated by commas", flag, list)
		}
		out = append(out, n)
	}
	return out, nil
}

// wantFiles is the open-file limit 10,000 idle flows need everywhere.
const wantFiles = 1 << 16

// maxIdle is how many idle flows fit in every process's open-file limit
// (raised first, where allowed, for this process and its children): a
// proxy holds two sockets per flow, and stunnel serves at most
// limit×125/256 clients. Whole thousands.
func maxIdle() int {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || lim.Max > 1<<30 {
		return 1 << 30
	}
	if lim.Max < wantFiles {
		raised := syscall.Rlimit{Cur: wantFiles, Max: wantFiles}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil { // needs root
			lim = raised
		}
	}
	n := int(lim.Max)*125/256 - 256
	return max(n/1000*1000, 0)
}

func runBench(ctx context.Context, o options) error {
	o.loadAtStart = loadAverage()
	work, err := os.MkdirTemp("", "hopseal-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil { // the proxies run as UID 1443
		return err
	}
	for _, b := range []struct {
		path *string
		name string
	}{{&o.hopseal, "hopseal"}, {&o.hopsealProxy, "hopseal-proxy"}} {
		if *b.path != "" {
			continue
		}
		*b.path = filepath.Join(work, b.name)
		progress("building " + b.name)
		if _, err := run(ctx, ".", "go", "build", "-o", *b.path, "./cmd/"+b.name); err != nil {
			return fmt.Errorf("%w (run from the repository root, or pass -%s)", err, b.name)
		}
	}
	for _, name := range o.topologies {
		if o.doc == "" {
			break
		}
		if err := updateDoc(o.doc, name, ""); err != nil { // fail now, not after minutes of work
			return err
		}
	}
	if slices.Contains(o.topologies, "transparent") {
		if err := reachable(o.hopsealProxy); err != nil { // before minutes of other work
			return err
		}
	}
	var reports []*report
	for _, name := range o.topologies {
		rep, err := runTopology(ctx, o, name, work)
		if err != nil {
			return fmt.Errorf("%s topology: %w", name, err)
		}
		if rep != nil {
			reports = append(reports, rep)
		}
	}
	for _, rep := range reports {
		fmt.Print(rep.text())
	}
	for _, rep := range reports {
		if o.doc != "" {
			if err := updateDoc(o.doc, rep.topology, rep.markdown()); err != nil {
				return err
			}
			progress("wrote the " + rep.topology + " results into " + o.doc)
		}
	}
	return nil
}

func runTopology(ctx context.Context, o options, name, work string) (*report, error) {
	if name == gateway {
		return runGateway(ctx, o, work)
	}
	t, err := setupTopology(ctx, name, o, work)
	if err != nil {
		return nil, err
	}
	defer t.stop()
	if o.soak != "" {
		return nil, soak(ctx, o, t)
	}
	samples, err := rounds(ctx, o, t)
	if err != nil {
		return nil, err
	}
	idles := map[string]idleResult{}
	if o.idle > 0 {
		for _, p := range t.paths[1:] {
			progress(fmt.Sprintf("%s: %d idle connections through %s", name, o.idle, p.name))
			r, err := idle(ctx, p, o.idle, o.clients)
			if err != nil {
				return nil, fmt.Errorf("%s, idle connections: %w%s", p.name, err, p.logTail())
			}
			idles[p.name] = r
		}
	}
	return summarize(o, t, samples, idles), nil
}

// rounds measures every path once per round, a different one first each
// round, and returns the samples by path name.
func rounds(ctx context.Context, o options, t *topology) (map[string][]sample, error) {
	samples := map[string][]sample{}
	for r := range o.rounds {
		for i := range t.paths {
			p := t.paths[(i+r)%len(t.paths)]
			s, err := measure(ctx, p, o)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w%s", r+1, p.name, err, p.logTail())
			}
			progress(fmt.Sprintf("%s round %d/%d %-9s %s", t.name, r+1, o.rounds, p.name, s))
			samples[p.name] = append(samples[p.name], s)
		}
	}
	return samples, nil
}

func progress(msg string) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), msg)
}

// soak loads one path for a while, so a profiler can watch its proxies.
func soak(ctx context.Context, o options, t *topology) error {
	for _, p := range t.paths {
		if p.name != o.soak {
			continue
		}
		for _, pr := range p.proxies {
			progress(fmt.Sprintf("%s: %s is pid %d", t.name, pr.name, pr.pid()))
		}
		progress(fmt.Sprintf("%s: %d req/s through %s for %s", t.name, o.rates[0], p.name, o.soakFor))
		var cpu0, cpu1 []time.Duration
		lat, err := latency(ctx, p, o.rates[0], o.conns, o.soakFor, func(start bool) {
			if start {
				cpu0 = threadTimes(p.proxies)
			} else {
				cpu1 = threadTimes(p.proxies)
			}
		})
		if err != nil {
			return err
		}
		requests := float64(o.rates[0]) * (o.soakFor + latencyWarmup).Seconds()
		msg := fmt.Sprintf("p50 %s p99 %s; CPU per request:", percentile(lat, 50), percentile(lat, 99))
		for i, pr := range p.proxies {
			msg += fmt.Sprintf(" %s %.1f µs", pr.name, us(cpu1[i]-cpu0[i])/requests)
		}
		progress(msg)
		if o.idle == 0 {
			return nil
		}
		conns, err := openMany(ctx, p, o.idle, o.clients)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		if err != nil {
			return err
		}
		progress(fmt.Sprintf("%s: holding %d idle connections through %s for %s", t.name, len(conns), p.name, o.soakFor))
		settle(ctx, o.soakFor)
		return nil
	}
	return fmt.Errorf("-soak %q: no such path; use plaintext, hopseal or stunnel", o.soak)
}
