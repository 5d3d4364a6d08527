package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// sample is one round's measurements of one path.
type sample struct {
	gbps       map[int]float64          // streams → Gbit/s
	lat        map[int][2]time.Duration // rate → p50, p99
	handshakes float64                  // new connections (one request each) per second
	cpuPerGB   []float64                // per proxy process: CPU seconds per GB moved
	cpuPerReq  []float64                // per proxy process: CPU µs per request (first rate)
}

func (s sample) String() string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(s.gbps)) {
		fmt.Fprintf(&b, "%d stream(s) %.2f Gbit/s, ", n, s.gbps[n])
	}
	for _, r := range slices.Sorted(maps.Keys(s.lat)) {
		fmt.Fprintf(&b, "%d/s p50 %s p99 %s, ", r, s.lat[r][0].Round(time.Microsecond), s.lat[r][1].Round(time.Microsecond))
	}
	fmt.Fprintf(&b, "%.0f handshakes/s", s.handshakes)
	return b.String()
}

func measure(ctx context.Context, p *path, o options) (sample, error) {
	s := sample{gbps: map[int]float64{}, lat: map[int][2]time.Duration{}}
	before, err := cpuTimes(p.proxies)
	if err != nil {
		return s, err
	}
	var moved int64
	for _, n := range o.streams {
		rate, bytes, err := bulk(ctx, p, n, o.bulk)
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
	for k, rate := range o.rates {
		var cpu0 []time.Duration
		lat, err := latency(ctx, p, rate, o.conns, o.latency, func(start bool) {
			if k > 0 {
				return
			}
			now := threadTimes(p.proxies)
			if start {
				cpu0 = now
				return
			}
			requests := float64(rate) * (o.latency + latencyWarmup).Seconds()
			for i := range now {
				s.cpuPerReq = append(s.cpuPerReq, us(now[i]-cpu0[i])/requests)
			}
		})
		if err != nil {
			return s, fmt.Errorf("latency at %d req/s: %w", rate, err)
		}
		s.lat[rate] = [2]time.Duration{percentile(lat, 50), percentile(lat, 99)}
	}
	if s.handshakes, err = handshakes(ctx, p, o.clients, o.handshake); err != nil {
		return s, fmt.Errorf("handshakes: %w", err)
	}
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
