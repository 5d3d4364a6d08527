package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// gwSample is one round's measurements of one front on one route kind.
type gwSample struct {
	rps       float64                  // requests per second at saturation
	cores     float64                  // the front's CPU seconds per second meanwhile
	perCore   float64                  // requests per CPU-second of the front
	backendUS float64                  // the backend proxy's CPU µs per request meanwhile
	lat       map[int][2]time.Duration // rate → p50, p99
}

func (s gwSample) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.0f req/s, %.2f cores, %.0f req per CPU-second; ", s.rps, s.cores, s.perCore)
	for _, r := range slices.Sorted(maps.Keys(s.lat)) {
		fmt.Fprintf(&b, "%d/s p50 %s p99 %s, ", r, s.lat[r][0].Round(time.Microsecond), s.lat[r][1].Round(time.Microsecond))
	}
	return strings.TrimSuffix(b.String(), ", ")
}

// gatewayRounds measures every front on every route kind once per round,
// a different front first each round; samples by route kind, then front.
func gatewayRounds(ctx context.Context, o options, t *gatewayTopology) (map[string]map[string][]gwSample, error) {
	samples := map[string]map[string][]gwSample{}
	for _, kind := range routeKinds {
		samples[kind] = map[string][]gwSample{}
	}
	for r := range o.rounds {
		for _, kind := range routeKinds {
			for i := range t.fronts {
				f := t.fronts[(i+r)%len(t.fronts)]
				p := t.paths[kind][f.name]
				s, err := measureFront(ctx, o, f, t.backend.proc, p)
				if err != nil {
					return nil, fmt.Errorf("round %d, %s: %w%s", r+1, p.name, err, p.logTail())
				}
				progress(fmt.Sprintf("gateway round %d/%d %-11s %-7s %s", r+1, o.rounds, kind, f.name, s))
				samples[kind][f.name] = append(samples[kind][f.name], s)
			}
		}
	}
	return samples, nil
}

// measureFront saturates p with the gateway clients, counting the front's
// and the backend proxy's CPU time meanwhile, then measures latency at each
// fixed rate.
func measureFront(ctx context.Context, o options, f *front, backend *proc, p *path) (gwSample, error) {
	s := gwSample{lat: map[int][2]time.Duration{}}
	var f0, f1, b0, b1 time.Duration
	var cpuErr error
	n, elapsed, err := saturate(ctx, p, o.gwClients, o.bulk, func(start bool) {
		fc, err1 := f.cpu()
		bc, err2 := cpuTime(backend.pid())
		if err := errors.Join(err1, err2); err != nil {
			cpuErr = err
		}
		if start {
			f0, b0 = fc, bc
		} else {
			f1, b1 = fc, bc
		}
	})
	if err = errors.Join(err, cpuErr); err != nil {
		return s, fmt.Errorf("saturation with %d clients: %w", o.gwClients, err)
	}
	s.rps = float64(n) / elapsed.Seconds()
	s.cores = (f1 - f0).Seconds() / elapsed.Seconds()
	if f1 > f0 {
		s.perCore = float64(n) / (f1 - f0).Seconds()
	}
	s.backendUS = us(b1-b0) / float64(n)
	for _, rate := range o.rates {
		lat, err := latency(ctx, p, rate, o.conns, o.latency, func(bool) {})
		if err != nil {
			return s, fmt.Errorf("latency at %d req/s: %w", rate, err)
		}
		s.lat[rate] = [2]time.Duration{percentile(lat, 50), percentile(lat, 99)}
	}
	return s, nil
}

// saturate runs clients keep-alive connections through p, each sending its
// next request as soon as the last response arrived, for d. It returns the
// requests completed and the time they took; window runs right before the
// first request and after the last response, with every connection open.
func saturate(ctx context.Context, p *path, clients int, d time.Duration, window func(start bool)) (int64, time.Duration, error) {
	cs := make([]*httpConn, 0, clients)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range clients {
		c, err := openHTTP(p)
		if err != nil {
			return 0, 0, err
		}
		cs = append(cs, c)
	}
	counts := make([]int64, clients)
	errs := make([]error, clients)
	window(true)
	begin := time.Now()
	stopAt := begin.Add(d)
	var wg sync.WaitGroup
	for k, c := range cs {
		wg.Go(func() {
			c.SetDeadline(stopAt.Add(10 * time.Second))
			for time.Now().Before(stopAt) && ctx.Err() == nil {
				if err := c.roundTrip(httpRequest); err != nil {
					errs[k] = fmt.Errorf("client %d after %d requests: %w", k, counts[k], err)
					return
				}
				counts[k]++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	window(false)
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	return n, elapsed, ctx.Err()
}

// treeCPU is the user+system CPU time of a process and its descendants
// (nginx's master and workers), from /proc.
func treeCPU(root int) (time.Duration, error) {
	total, err := cpuTime(root)
	if err != nil {
		return 0, err
	}
	for _, pid := range descendants(root) {
		if t, err := cpuTime(pid); err == nil { // a child may just have ended
			total += t
		}
	}
	return total, nil
}

// descendants lists the processes below root.
func descendants(root int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := parentPID(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	for queue := []int{root}; len(queue) > 0; queue = queue[1:] {
		out = append(out, children[queue[0]]...)
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// parentPID reads the parent's PID from /proc/<pid>/stat.
func parentPID(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if i < 0 || len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, data)
	}
	return strconv.Atoi(f[1])
}

// threadCount is the number of threads of a process.
func threadCount(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	return len(entries)
}

// logLineWith waits for a JSON log line whose msg is msg and whose key is
// value, and returns its fields.
func (p *proc) logLineWith(ctx context.Context, msg, key, value string, timeout time.Duration) (map[string]any, error) {
	var found map[string]any
	err := poll(ctx, timeout, func() (bool, error) {
		sc := bufio.NewScanner(strings.NewReader(p.output()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg && m[key] == value {
				found = m
				return true, nil
			}
		}
		return false, nil
	})
	return found, err
}
