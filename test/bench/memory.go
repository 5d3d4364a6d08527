package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mem is one look at a proxy process's memory.
type mem struct {
	rss, anon  float64 // VmRSS and RssAnon, bytes
	heap, stk  float64 // Go: heap spans in use and goroutine stacks, bytes (hopseal only)
	goroutines float64
	goRuntime  bool // heap, stk and goroutines were read
}

// goBytes is what the Go runtime holds for the program: heap in use plus stacks.
func (m mem) goBytes() float64 { return m.heap + m.stk }

// procStatus reads a field of /proc/<pid>/status given in kB, in bytes.
func procStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// peakRSS is VmHWM of a process, in bytes.
func peakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM") }

// readMem looks at a proxy: /proc for every proxy, the admin endpoint's
// /metrics for hopseal's.
func readMem(ctx context.Context, p *path, i int) (mem, error) {
	pr := p.proxies[i]
	rss, err := procStatus(pr.pid(), "VmRSS")
	if err != nil {
		return mem{}, err
	}
	anon, err := procStatus(pr.pid(), "RssAnon")
	if err != nil {
		return mem{}, err
	}
	m := mem{rss: float64(rss), anon: float64(anon)}
	if i >= len(p.admins) || p.admins[i] == "" {
		return m, nil
	}
	text, err := scrape(ctx, p.adminPods[i], p.admins[i])
	if err != nil {
		return m, fmt.Errorf("%s: %w", pr.name, err)
	}
	var errs []error
	for name, dst := range map[string]*float64{
		"go_memstats_heap_inuse_bytes":  &m.heap,
		"go_memstats_stack_inuse_bytes": &m.stk,
		"go_goroutines":                 &m.goroutines,
	} {
		v, ok := metric(text, name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: /metrics has no %s", pr.name, name))
		}
		*dst = v
	}
	m.goRuntime = true
	return m, errors.Join(errs...)
}

// scrape fetches http://addr/metrics from inside the pod.
func scrape(ctx context.Context, from *pod, addr string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return from.dial(addr) },
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("scrape %s: status %s", addr, resp.Status)
	}
	return string(body), err
}

// metric is the value of an unlabelled sample.
func metric(text, name string) (float64, bool) {
	for l := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// idleResult is what n idle connections cost each proxy of a path.
type idleResult struct {
	n             int
	before, after []mem // per proxy
}

// perSocket is the growth per idle socket (a flow holds two in each proxy).
func (r idleResult) perSocket(i int, get func(mem) float64) float64 {
	if r.n == 0 || i >= len(r.after) {
		return 0
	}
	return (get(r.after[i]) - get(r.before[i])) / float64(r.n) / 2
}

// idle opens n keep-alive HTTP connections through p, each after one
// request, and reads every proxy's memory before and with them open.
func idle(ctx context.Context, p *path, n, workers int) (idleResult, error) {
	r := idleResult{n: n}
	for i := range p.proxies {
		m, err := readMem(ctx, p, i)
		if err != nil {
			return r, err
		}
		r.before = append(r.before, m)
	}
	conns, err := openMany(ctx, p, n, workers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return r, err
	}
	// Let the proxies finish what opening left behind (handshake garbage,
	// buffers returned to pools) before looking.
	settle(ctx, 2*time.Second)
	for i := range p.proxies {
		m, err := readMem(ctx, p, i)
		if err != nil {
			return r, err
		}
		r.after = append(r.after, m)
	}
	return r, nil
}

// openMany opens n connections through p with workers in parallel.
func openMany(ctx context.Context, p *path, n, workers int) ([]*httpConn, error) {
	var mu sync.Mutex
	conns := make([]*httpConn, 0, n)
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() {
			errs[k] = p.from.do(func() error {
				for range next {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					c, err := openHTTP(&path{addr: p.addr})
					if err != nil {
						return err
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return conns, fmt.Errorf("open idle connection %d of %d: %w", len(conns)+1, n, err)
	}
	return conns, nil
}

func settle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
