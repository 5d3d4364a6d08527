// Package capture turns packet captures into evidence of which hops are
// encrypted: it reads pcap and pcapng files or captures live (AF_PACKET),
// reassembles the start of each TCP connection in bounded memory, tells
// what each speaks (TLS and its parameters, hopseal's mTLS, SSH, or a
// plaintext protocol), maps addresses to workloads and writes findings.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Options tune an analysis; the zero value is ready to use.
type Options struct {
	Filter         *Filter       // packets to keep; nil keeps all
	Count          int64         // stop after this many packets passed the filter; 0: no limit
	StreamBytes    int           // bytes kept from the start of each direction; default 8 KiB
	MaxConnections int           // connections tracked at once; default 65536
	MaxBuffered    int           // bytes buffered across connections; default 64 MiB
	IdleTimeout    time.Duration // capture time after which a silent connection is closed; default 2 min
	MeshPorts      []uint16      // server ports where hopseal's proxies take mTLS
	Names          Resolver      // address → workload; nil names none
	MaxDetails     int           // connections listed one by one in the evidence; default 2000
	Progress       io.Writer     // where progress lines go; nil: none
	ProgressEvery  time.Duration // default 5 s
	Now            func() time.Time
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.StreamBytes, 8<<10)
	def(&o.MaxConnections, 1<<16)
	def(&o.MaxBuffered, 64<<20)
	def(&o.MaxDetails, 2000)
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o *Options) meshPort(port uint16) bool {
	for _, p := range o.MeshPorts {
		if p == port {
			return true
		}
	}
	return false
}

// Analyzer reads sources one after another into one result.
type Analyzer struct {
	opts     Options
	dec      *decoder
	table    *table
	agg      *aggregate
	stats    Stats
	partial  []string
	sources  []string
	lastNote time.Time
	reported bool // a progress line was written
}

// Stats counts what an analysis read.
type Stats struct {
	Packets     int64            `json:"packets"`           // read from the sources
	Matched     int64            `json:"matched"`           // passed the filter
	TCPPackets  int64            `json:"tcp_packets"`       // of those, TCP
	Bytes       int64            `json:"bytes"`             // captured bytes read
	Connections int              `json:"connections"`       // TCP connections seen
	Evicted     int              `json:"evicted"`           // decided early to stay within memory bounds
	Skipped     map[string]int64 `json:"skipped,omitempty"` // packets not analysed, by reason
}

// NewAnalyzer starts an analysis.
func NewAnalyzer(o Options) *Analyzer {
	o = o.withDefaults()
	a := &Analyzer{opts: o, dec: newDecoder(), agg: newAggregate(&o), stats: Stats{Skipped: map[string]int64{}}}
	a.table = newTable(&a.opts, a.agg.add)
	a.lastNote = o.Now()
	return a
}

// errNoPacket is what a live source returns when its poll interval passed
// without a packet, so the loop can look at its context and report progress.
var errNoPacket = errors.New("no packet yet")

// Run reads src to its end, or until ctx is done (returning ctx's error)
// or the packet limit is reached. A read error ends the source: the packets
// before it count, and the result records why it is partial.
func (a *Analyzer) Run(ctx context.Context, src Source) error {
	a.sources = append(a.sources, src.Name())
	var p packet
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			a.progress(false)
		}
		if a.opts.Count > 0 && a.stats.Matched >= a.opts.Count {
			return nil
		}
		data, ci, link, err := src.Next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errNoPacket):
			n |= 1023 // check the context and progress next round
			continue
		case err != nil:
			err = fmt.Errorf("%s: after %d packets: %w", src.Name(), a.stats.Packets, err)
			a.partial = append(a.partial, err.Error())
			return err
		}
		a.stats.Packets++
		a.stats.Bytes += int64(len(data))
		ok, known := a.dec.decode(data, link, &p)
		if !known {
			a.stats.Skipped[fmt.Sprintf("link type %d (%s)", link, link)]++
			continue
		}
		if !ok || !a.opts.Filter.matches(&p) {
			if !ok {
				a.stats.Skipped["not IP"]++
			}
			continue
		}
		a.stats.Matched++
		switch p.proto {
		case protoTCP:
		case protoUDP:
			a.stats.Skipped["UDP"]++
			continue
		default:
			a.stats.Skipped["other IP (ICMP, IP fragments, IPv6 extension headers)"]++
			continue
		}
		a.stats.TCPPackets++
		a.table.add(&p, sane(ci.Timestamp))
	}
}

// Interrupted records that the analysis stopped before its sources ended.
func (a *Analyzer) Interrupted(why string) { a.partial = append(a.partial, why) }

// Result ends the analysis: it classifies the connections still open and
// returns everything found.
func (a *Analyzer) Result() *Result {
	a.table.flush()
	a.progress(true)
	a.stats.Connections = a.table.next
	a.stats.Evicted = a.table.evicted
	if len(a.stats.Skipped) == 0 {
		a.stats.Skipped = nil
	}
	r := a.agg.result()
	r.Sources, r.Stats, r.Partial = a.sources, a.stats, append(a.partial, r.Partial...)
	if a.opts.Filter != nil {
		r.Filter = a.opts.Filter.String()
	}
	return r
}

// progress writes a line every ProgressEvery; at the end, a last one if
// the run was long enough to have written any.
func (a *Analyzer) progress(final bool) {
	if a.opts.Progress == nil {
		return
	}
	now := a.opts.Now()
	if final && !a.reported || !final && now.Sub(a.lastNote) < a.opts.ProgressEvery {
		return
	}
	a.lastNote, a.reported = now, true
	fmt.Fprintf(a.opts.Progress, "capture: %d packets (%s), %d connections (%d open, %s buffered)\n",
		a.stats.Packets, sizeString(a.stats.Bytes), a.table.next, len(a.table.conns), sizeString(int64(a.table.buffered)))
}

// sane drops timestamps that no capture holds and JSON cannot write.
func sane(t time.Time) time.Time {
	if y := t.Year(); y < 1970 || y > 9999 {
		return time.Time{}
	}
	return t
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
