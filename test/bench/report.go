package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the summary of a run: medians over rounds, as ratios.
type report struct {
	date     string
	command  string
	machine  [][2]string
	settings string
	header   []string
	rows     [][]string
	verdicts []string
}

var roles = []string{"client-side", "server-side"}

func summarize(o options, paths []*path, samples map[string][]sample) *report {
	r := &report{
		date:    time.Now().UTC().Format("2006-01-02 15:04 MST"),
		command: o.command,
		machine: machine(o),
		settings: fmt.Sprintf("%d rounds, medians; throughput: %s s per run; latency: %d-byte requests, %d-byte responses, %d req/s over %d keep-alive connections for %s",
			o.rounds, trimFloat(o.bulk.Seconds()), reqSize, respSize, o.rate, o.conns, o.latency),
		header: []string{"metric", "plaintext", "hopseal pair", "stunnel pair", "hopseal vs stunnel"},
	}
	plain, hop, stun := samples["plaintext"], samples["hopseal"], samples["stunnel"]
	for _, n := range o.streams {
		get := func(s sample) float64 { return s.gbps[n] }
		pl, h, st := median(plain, get), median(hop, get), median(stun, get)
		r.rows = append(r.rows, []string{fmt.Sprintf("throughput, %s (Gbit/s)", streams(n)), f2(pl),
			fmt.Sprintf("%s (%s)", f2(h), times(h/pl)), fmt.Sprintf("%s (%s)", f2(st), times(st/pl)), times(h / st)})
		r.verdicts = append(r.verdicts, fmt.Sprintf("throughput with %s: hopseal %s stunnel (%s)", streams(n), atLeast(h >= st), times(h/st)))
	}
	for _, q := range []struct {
		name string
		get  func(sample) float64
	}{
		{"p50", func(s sample) float64 { return us(s.p50) }},
		{"p99", func(s sample) float64 { return us(s.p99) }},
	} {
		pl, h, st := median(plain, q.get), median(hop, q.get), median(stun, q.get)
		r.rows = append(r.rows, []string{fmt.Sprintf("latency %s at %d req/s (µs)", q.name, o.rate), f0(pl),
			fmt.Sprintf("%s (+%s)", f0(h), f0(h-pl)), fmt.Sprintf("%s (+%s)", f0(st), f0(st-pl)), times((h-pl)/(st-pl)) + " added"})
		if q.name == "p99" {
			r.verdicts = append(r.verdicts, fmt.Sprintf("added p99 latency: hopseal +%s µs, stunnel +%s µs: hopseal adds %s",
				f0(h-pl), f0(st-pl), map[bool]string{true: "no more than stunnel", false: "more than stunnel"}[h-pl <= st-pl]))
		}
	}
	for i, role := range roles {
		get := func(s sample) float64 { return s.cpuPerGB[i] }
		h, st := median(hop, get), median(stun, get)
		r.rows = append(r.rows, []string{fmt.Sprintf("CPU per GB, %s proxy (s)", role), "—", f2(h), f2(st), times(h / st)})
	}
	for i, role := range roles {
		get := func(s sample) float64 { return s.cpuPerReq[i] }
		h, st := median(hop, get), median(stun, get)
		r.rows = append(r.rows, []string{fmt.Sprintf("CPU per request, %s proxy (µs)", role), "—", f1(h), f1(st), times(h / st)})
	}
	for i, role := range roles {
		h, st := rssMiB(paths[1], i), rssMiB(paths[2], i)
		r.rows = append(r.rows, []string{fmt.Sprintf("peak RSS, %s proxy (MiB)", role), "—", f1(h), f1(st), times(h / st)})
	}
	r.machine = append(r.machine, [2]string{"negotiated (hopseal)", paths[1].tls()}, [2]string{"negotiated (stunnel)", paths[2].tls()})
	return r
}

func (r *report) text() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nhopseal bench, %s\n%s\n\n", r.date, r.settings)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(r.header, "\t"))
	for _, row := range r.rows {
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	w.Flush()
	b.WriteString("\n")
	for _, v := range r.verdicts {
		fmt.Fprintf(&b, "goal: %s\n", v)
	}
	b.WriteString("\n")
	for _, m := range r.machine {
		fmt.Fprintf(&b, "%s: %s\n", m[0], m[1])
	}
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run on %s with `%s`. %s.\n\n", r.date, r.command, r.settings)
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(r.header, " | "), strings.Repeat("---|", len(r.header)))
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
	}
	b.WriteString("\n")
	for _, v := range r.verdicts {
		fmt.Fprintf(&b, "- Goal: %s.\n", v)
	}
	b.WriteString("\n| machine | |\n|---|---|\n")
	for _, m := range r.machine {
		fmt.Fprintf(&b, "| %s | %s |\n", m[0], m[1])
	}
	return b.String()
}

const (
	beginMarker = "<!-- bench:results:begin -->"
	endMarker   = "<!-- bench:results:end -->"
)

// updateDoc replaces what lies between the markers in file.
func updateDoc(file, block string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("-doc: %w", err)
	}
	text := string(data)
	i, j := strings.Index(text, beginMarker), strings.Index(text, endMarker)
	if i < 0 || j < i {
		return fmt.Errorf("-doc %s: no %s … %s block to replace; add the two markers where the results go", file, beginMarker, endMarker)
	}
	text = text[:i+len(beginMarker)] + "\n" + block + text[j:]
	return os.WriteFile(file, []byte(text), 0o644)
}

// machine describes where the numbers came from.
func machine(o options) [][2]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	stunnel := combined(ctx, o.stunnel, "-version")
	openssl := combined(ctx, "openssl", "version")
	return [][2]string{
		{"CPUs (nproc)", fmt.Sprint(runtime.NumCPU())},
		{"CPU model", cpu},
		{"kernel", strings.TrimSpace(string(kernel))},
		{"Go", runtime.Version()},
		{"stunnel", firstLine(stunnel, "stunnel ")},
		{"stunnel's OpenSSL", strings.TrimPrefix(firstLine(stunnel, "Running"), "Running with ")},
		{"openssl", strings.TrimSpace(openssl)},
		{"load average at the start (1, 5, 15 min)", o.loadAtStart},
		{"load average at the end", loadAverage()},
	}
}

// combined returns a command's combined output (stunnel prints its version on stderr).
func combined(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out)
}

// loadAverage is the 1, 5 and 15 minute load average: how busy the machine
// was besides this run.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func streams(n int) string {
	if n == 1 {
		return "1 stream"
	}
	return fmt.Sprintf("%d streams", n)
}

func firstLine(out, prefix string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix) {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return "unknown"
}

func rssMiB(p *path, i int) float64 {
	if i >= len(p.proxies) {
		return 0
	}
	n, err := peakRSS(p.proxies[i].pid())
	if err != nil {
		return 0
	}
	return float64(n) / (1 << 20)
}

func median(ss []sample, get func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = get(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func times(x float64) string { return fmt.Sprintf("%.2f×", x) }

func atLeast(ok bool) string {
	if ok {
		return "moves at least as much as"
	}
	return "moves less than"
}

func f0(x float64) string        { return fmt.Sprintf("%.0f", x) }
func f1(x float64) string        { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string        { return fmt.Sprintf("%.2f", x) }
func trimFloat(x float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", x), ".0") }
