// Command bench measures hopseal's data path side by side with plaintext
// and a stunnel pair in one run, and prints a table of ratios:
//
//	plaintext: load generator → app
//	hopseal:   load generator → hopseal proxy (outbound) ═mTLS═ hopseal proxy (inbound) → app
//	stunnel:   load generator → stunnel (client)         ═mTLS═ stunnel (server)        → app
//
// Every proxy is a real process; the load generator and the app run here.
// Rounds interleave the three paths and the table shows medians, because a
// shared machine is noisy. scripts/bench.sh installs stunnel and runs this.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
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
	bulk, latency    time.Duration
	rounds           int
	rate, conns      int
	streams          []int
	doc              string
	env              []string // for the hopseal proxies
	command          string   // how to repeat the run, for the report
	loadAtStart      string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := func() error {
		defer stop()
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
	fs.StringVar(&o.hopseal, "hopseal", "", "hopseal binary (default: build ./cmd/hopseal)")
	fs.StringVar(&o.stunnel, "stunnel", "stunnel4", "stunnel binary")
	fs.DurationVar(&o.bulk, "duration", 3*time.Second, "length of each throughput measurement")
	fs.DurationVar(&o.latency, "latency-duration", 4*time.Second, "length of each latency measurement (after a 0.5 s warm-up)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds over the three paths; the table shows medians")
	fs.IntVar(&o.rate, "rate", 1000, "requests per second of the latency measurement")
	fs.IntVar(&o.conns, "conns", 4, "keep-alive connections the requests are spread over")
	env := fs.String("hopseal-env", "", "environment of the hopseal proxies, e.g. GOMAXPROCS=1,GOGC=200 (to study runtime settings)")
	streams := fs.String("streams", "1,8", "parallel streams of each throughput measurement, comma-separated")
	fs.StringVar(&o.doc, "doc", "", "also write the results into this Markdown file, between its bench:results markers")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var extra []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "hopseal" && f.Name != "doc" { // a temporary build; the script's own option
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
	for _, s := range strings.Split(*streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-streams %q: want positive integers separated by commas, e.g. 1,8", *streams)
		}
		o.streams = append(o.streams, n)
	}
	if *env != "" {
		o.env = strings.Split(*env, ",")
	}
	if o.rounds < 1 || o.rate < 1 || o.conns < 1 {
		return o, fmt.Errorf("-rounds, -rate and -conns must be at least 1")
	}
	if _, err := exec.LookPath(o.stunnel); err != nil {
		return o, fmt.Errorf("-stunnel %s: %w; install it with scripts/install-test-deps.sh", o.stunnel, err)
	}
	return o, nil
}

func runBench(ctx context.Context, o options) error {
	o.loadAtStart = loadAverage()
	work, err := os.MkdirTemp("", "hopseal-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.hopseal == "" {
		o.hopseal = filepath.Join(work, "hopseal")
		progress("building hopseal")
		if _, err := run(ctx, ".", "go", "build", "-o", o.hopseal, "./cmd/hopseal"); err != nil {
			return fmt.Errorf("%w (run from the repository root, or pass -hopseal)", err)
		}
	}
	a, err := startApp()
	if err != nil {
		return err
	}
	defer a.close()
	hsDir, stDir := filepath.Join(work, "hopseal"), filepath.Join(work, "stunnel")
	for _, d := range []string{hsDir, stDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	progress("starting the hopseal CA and proxy pair")
	hp, err := hopsealPair(ctx, o.hopseal, o.env, hsDir, a.addr())
	if err != nil {
		return err
	}
	defer hp.stop()
	progress("starting the stunnel pair")
	sp, err := stunnelPair(ctx, o.stunnel, stDir, hsDir, a.addr())
	if err != nil {
		return err
	}
	defer sp.stop()

	paths := []*path{direct(a.addr()), hp, sp}
	samples, err := rounds(ctx, o, paths)
	if err != nil {
		return err
	}
	rep := summarize(o, paths, samples)
	fmt.Print(rep.text())
	if o.doc != "" {
		if err := updateDoc(o.doc, rep.markdown()); err != nil {
			return err
		}
		progress("wrote the results into " + o.doc)
	}
	return nil
}

// rounds measures every path once per round, a different one first each
// round, and returns the samples by path name.
func rounds(ctx context.Context, o options, paths []*path) (map[string][]sample, error) {
	samples := map[string][]sample{}
	for r := range o.rounds {
		for i := range paths {
			p := paths[(i+r)%len(paths)]
			s, err := measure(ctx, p, o)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w%s", r+1, p.name, err, p.logTail())
			}
			progress(fmt.Sprintf("round %d/%d %-9s %s", r+1, o.rounds, p.name, s))
			samples[p.name] = append(samples[p.name], s)
		}
	}
	return samples, nil
}

// sample is one round's measurements of one path.
type sample struct {
	gbps      map[int]float64 // streams → Gbit/s
	p50, p99  time.Duration
	cpuPerGB  []float64 // per proxy process: CPU seconds per GB moved
	cpuPerReq []float64 // per proxy process: CPU µs per request (latency run)
}

func (s sample) String() string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(s.gbps)) {
		fmt.Fprintf(&b, "%d stream(s) %.2f Gbit/s, ", n, s.gbps[n])
	}
	fmt.Fprintf(&b, "p50 %s p99 %s", s.p50.Round(time.Microsecond), s.p99.Round(time.Microsecond))
	return b.String()
}

func measure(ctx context.Context, p *path, o options) (sample, error) {
	s := sample{gbps: map[int]float64{}}
	before, err := cpuTimes(p.proxies)
	if err != nil {
		return s, err
	}
	var moved int64
	for _, n := range o.streams {
		rate, bytes, err := bulk(ctx, p.addr, n, o.bulk)
		if err != nil {
			return s, fmt.Errorf("throughput with %d streams: %w", n, err)
		}
		s.gbps[n] = rate * 8 / 1e9
		moved += bytes
	}
	after, err := cpuTimes(p.proxies)
	if err != nil {
		return s, err
	}
	for i := range before {
		s.cpuPerGB = append(s.cpuPerGB, (after[i]-before[i]).Seconds()/(float64(moved)/1e9))
	}
	var cpu0 []time.Duration
	lat, err := latency(ctx, p.addr, o.rate, o.conns, o.latency, func(start bool) {
		now := threadTimes(p.proxies)
		if start {
			cpu0 = now
			return
		}
		requests := float64(o.rate) * (o.latency + latencyWarmup).Seconds()
		for i := range now {
			s.cpuPerReq = append(s.cpuPerReq, us(now[i]-cpu0[i])/requests)
		}
	})
	if err != nil {
		return s, fmt.Errorf("latency: %w", err)
	}
	s.p50, s.p99 = percentile(lat, 50), percentile(lat, 99)
	return s, nil
}

func cpuTimes(procs []*proc) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range procs {
		t, err := cpuTime(p.pid())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// threadTimes reads threadCPU of each process; a process that cannot be
// read counts as zero (the table then shows 0).
func threadTimes(procs []*proc) []time.Duration {
	out := make([]time.Duration, len(procs))
	for i, p := range procs {
		out[i], _ = threadCPU(p.pid())
	}
	return out
}

func progress(msg string) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), msg)
}
