package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the summary of one topology: medians over rounds, as ratios.
type report struct {
	topology string
	date     string
	command  string
	machine  [][2]string
	settings string
	header   []string
	rows     [][]string
	verdicts []string
}

var roles = []string{"client-side", "server-side"}

// Issue 3's goals.
const (
	goalThroughput = 1.2       // × the stunnel pair's
	goalPerSocket  = 16 << 10  // bytes of proxy memory per idle connection (socket)
	goalIdleRSS    = 20 << 20  // bytes
	goalAddedP99   = 300.0     // µs per proxy pair at 1,000 req/s
	goalRate       = 1000      // req/s the p99 goal is stated at
	mib            = 1 << 20.0 // for display
)

func summarize(o options, t *topology, samples map[string][]sample, idles map[string]idleResult) *report {
	r := &report{
		topology: t.name,
		date:     time.Now().UTC().Format("2006-01-02 15:04 MST"),
		command:  o.command,
		machine:  machine(o),
		settings: settings(o, t.name),
		header:   []string{"metric", "plaintext", "hopseal pair", "stunnel pair", "hopseal vs stunnel"},
	}
	if o.rounds > 0 {
		r.rounds(o, samples)
	}
	r.memory(o, t, idles)
	r.machine = append(r.machine, [2]string{"negotiated (hopseal)", t.paths[1].tls()}, [2]string{"negotiated (stunnel)", t.paths[2].tls()})
	return r
}

func (r *report) rounds(o options, samples map[string][]sample) {
	plain, hop, stun := samples["plaintext"], samples["hopseal"], samples["stunnel"]
	r.throughput(o, plain, hop, stun)
	r.latency(o, plain, hop, stun)
	get := func(s sample) float64 { return s.handshakes }
	pl, h, st := median(plain, get), median(hop, get), median(stun, get)
	r.add(fmt.Sprintf("new connections per second, %d clients (one request each)", o.clients), f0(pl),
		fmt.Sprintf("%s (%s)", f0(h), times(h/pl)), fmt.Sprintf("%s (%s)", f0(st), times(st/pl)), times(h/st))
	for i, role := range roles {
		get := func(s sample) float64 { return s.cpuPerGB[i] }
		h, st := median(hop, get), median(stun, get)
		r.add(fmt.Sprintf("CPU per GB, %s proxy (s)", role), "—", f2(h), f2(st), times(h/st))
	}
	for i, role := range roles {
		get := func(s sample) float64 { return s.cpuPerReq[i] }
		h, st := median(hop, get), median(stun, get)
		r.add(fmt.Sprintf("CPU per request at %d req/s, %s proxy (µs)", o.rates[0], role), "—", f1(h), f1(st), times(h/st))
	}
}

func settings(o options, topology string) string {
	where := "loopback, hopseal with explicit listeners"
	if topology == transparent {
		where = "pods (network namespaces) on a bridge, hopseal in transparent mode (init-net, UID 1443, HTTP through its L7 proxy)"
	}
	s := fmt.Sprintf("%s; %d rounds, medians; throughput: %s s per run; latency: HTTP/1.1 GETs with 1 KiB responses over %d keep-alive connections, %s s per rate; new connections: %s s",
		where, o.rounds, trimFloat(o.bulk.Seconds()), o.conns, trimFloat(o.latency.Seconds()), trimFloat(o.handshake.Seconds()))
	if o.idle > 0 {
		s += fmt.Sprintf("; %d idle keep-alive connections", o.idle)
		if o.idle < o.idleWanted {
			s += fmt.Sprintf(" (not %d: the open-file limit, %s, allows no more through stunnel; raise it to measure more)", o.idleWanted, fileLimit())
		}
	}
	return s
}

func (r *report) add(cells ...string) { r.rows = append(r.rows, cells) }

func (r *report) throughput(o options, plain, hop, stun []sample) {
	for _, n := range o.streams {
		get := func(s sample) float64 { return s.gbps[n] }
		pl, h, st := median(plain, get), median(hop, get), median(stun, get)
		r.add(fmt.Sprintf("throughput, %s (Gbit/s)", streams(n)), f2(pl),
			fmt.Sprintf("%s (%s)", f2(h), times(h/pl)), fmt.Sprintf("%s (%s)", f2(st), times(st/pl)), times(h/st))
		r.verdicts = append(r.verdicts, fmt.Sprintf("throughput with %s ≥ %.1f× stunnel's: %s (%s)", streams(n), goalThroughput, met(h >= goalThroughput*st), times(h/st)))
	}
}

func (r *report) latency(o options, plain, hop, stun []sample) {
	for _, rate := range o.rates {
		for q, name := range []string{"p50", "p99"} {
			get := func(s sample) float64 { return us(s.lat[rate][q]) }
			pl, h, st := median(plain, get), median(hop, get), median(stun, get)
			r.add(fmt.Sprintf("HTTP latency %s at %d req/s (µs)", name, rate), f0(pl),
				fmt.Sprintf("%s (+%s)", f0(h), f0(h-pl)), fmt.Sprintf("%s (+%s)", f0(st), f0(st-pl)), times((h-pl)/(st-pl))+" added")
			if name == "p99" && rate == goalRate {
				r.verdicts = append(r.verdicts, fmt.Sprintf("added p99 latency at %d req/s ≤ %.0f µs per proxy pair: %s (hopseal +%s µs, stunnel +%s µs)",
					rate, goalAddedP99, met(h-pl <= goalAddedP99), f0(h-pl), f0(st-pl)))
			}
		}
	}
}

func (r *report) memory(o options, t *topology, idles map[string]idleResult) {
	hp, sp := t.paths[1], t.paths[2]
	ok := true
	for i, role := range roles {
		h, st := float64(at(hp.startRSS, i)), float64(at(sp.startRSS, i))
		r.add(fmt.Sprintf("RSS idle at start, %s proxy (MiB)", role), "—", f1(h/mib), f1(st/mib), times(h/st))
		ok = ok && h <= goalIdleRSS
	}
	r.verdicts = append(r.verdicts, fmt.Sprintf("idle proxy RSS ≤ %d MiB: %s", goalIdleRSS>>20, met(ok)))
	hi, si := idles["hopseal"], idles["stunnel"]
	if hi.n > 0 && si.n > 0 {
		rss := func(m mem) float64 { return m.rss }
		goMem := func(m mem) float64 { return m.goBytes() }
		ok := true
		for i, role := range roles {
			h, st := hi.after[i].rss, si.after[i].rss
			r.add(fmt.Sprintf("RSS with %d idle connections, %s proxy (MiB)", hi.n, role), "—", f1(h/mib), f1(st/mib), times(h/st))
		}
		for i, role := range roles {
			h, st := hi.perSocket(i, rss), si.perSocket(i, rss)
			r.add(fmt.Sprintf("memory per idle connection, %s proxy, RSS (KiB per socket)", role), "—", f1(h/1024), f1(st/1024), times(h/st))
			g := hi.perSocket(i, goMem)
			heap, stacks := hi.perSocket(i, func(m mem) float64 { return m.heap }), hi.perSocket(i, func(m mem) float64 { return m.stk })
			r.add(fmt.Sprintf("memory per idle connection, %s proxy, Go heap + stacks (KiB per socket)", role), "—",
				fmt.Sprintf("%s (%s + %s; %.1f goroutines per flow)", f1(g/1024), f1(heap/1024), f1(stacks/1024),
					(hi.after[i].goroutines-hi.before[i].goroutines)/float64(hi.n)), "—", "")
			ok = ok && h <= goalPerSocket && g <= goalPerSocket
		}
		r.verdicts = append(r.verdicts, fmt.Sprintf("memory per idle connection ≤ %d KiB per socket (RSS and Go heap + stacks, both proxies): %s", goalPerSocket>>10, met(ok)))
	}
	for i, role := range roles {
		h, st := peakMiB(hp, i), peakMiB(sp, i)
		r.add(fmt.Sprintf("peak RSS, %s proxy (MiB)", role), "—", f1(h), f1(st), times(h/st))
	}
}

func (r *report) text() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nhopseal bench, %s topology, %s\n%s\n\n", r.topology, r.date, r.settings)
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
	fmt.Fprintf(&b, "Run on %s with `%s`: %s.\n\n", r.date, r.command, r.settings)
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

func markers(topology string) (begin, end string) {
	return "<!-- bench:" + topology + ":begin -->", "<!-- bench:" + topology + ":end -->"
}

// updateDoc replaces what lies between topology's markers in file.
func updateDoc(file, topology, block string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("-doc: %w", err)
	}
	begin, end := markers(topology)
	text := string(data)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		return fmt.Errorf("-doc %s: no %s … %s block to replace; add the two markers where the results go", file, begin, end)
	}
	if block == "" {
		return nil // only checking
	}
	text = text[:i+len(begin)] + "\n" + block + text[j:]
	return os.WriteFile(file, []byte(text), 0o644)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func at(v []int64, i int) int64 {
	if i >= len(v) {
		return 0
	}
	return v[i]
}

func peakMiB(p *path, i int) float64 {
	if i >= len(p.proxies) {
		return 0
	}
	n, err := peakRSS(p.proxies[i].pid())
	if err != nil {
		return 0
	}
	return float64(n) / mib
}

func streams(n int) string {
	if n == 1 {
		return "1 stream"
	}
	return fmt.Sprintf("%d streams", n)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func times(x float64) string     { return fmt.Sprintf("%.2f×", x) }
func f0(x float64) string        { return fmt.Sprintf("%.0f", x) }
func f1(x float64) string        { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string        { return fmt.Sprintf("%.2f", x) }
func trimFloat(x float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", x), ".0") }
