package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Issue 5's goals, on requests per CPU-second of the front ("per core"):
// terminate routes at least nginx's, passthrough within 10 % of haproxy's.
const (
	goalVsNginx   = 1.0
	goalVsHaproxy = 0.9
)

// gatewaySettings describes the run; call it while the fronts still run
// (it counts nginx's workers and haproxy's threads).
func gatewaySettings(o options, t *gatewayTopology) string {
	procs := fmt.Sprint(runtime.NumCPU())
	for _, e := range o.env {
		if v, ok := strings.CutPrefix(e, "GOMAXPROCS="); ok {
			procs = v
		}
	}
	workers, threads := 0, 0
	for _, f := range t.fronts {
		switch f.name {
		case "nginx":
			workers = len(descendants(f.proc.pid()))
		case "haproxy":
			threads = threadCount(f.proc.pid())
		}
	}
	return fmt.Sprintf("loopback; one backend (a hopseal proxy with explicit inbound listeners, then the app) behind three fronts: "+
		"hopseal gateway (GOMAXPROCS %s), nginx (worker_processes auto: %d workers), haproxy (nbthread unset: %d threads); "+
		"%d rounds, medians; saturation: %d keep-alive TLS 1.3 clients sending requests back to back, %s s per run; "+
		"latency: HTTP/1.1 GETs with 1 KiB responses over %d keep-alive connections at fixed rates, %s s per rate",
		procs, workers, threads, o.rounds, o.gwClients, trimFloat(o.bulk.Seconds()), o.conns, trimFloat(o.latency.Seconds()))
}

// summarizeGateway builds the table and verdicts from medians over rounds.
func summarizeGateway(o options, samples map[string]map[string][]gwSample, settings string) *report {
	r := &report{
		topology: gateway,
		date:     time.Now().UTC().Format("2006-01-02 15:04 MST"),
		command:  o.command,
		settings: settings,
		header:   []string{"route", "metric", "hopseal gateway", "nginx", "haproxy", "hopseal vs nginx", "hopseal vs haproxy"},
	}
	for _, kind := range routeKinds {
		s := samples[kind]
		row := func(metric string, get func(gwSample) float64, format func(float64) string) (h, n, hp float64) {
			h, n, hp = median(s["hopseal"], get), median(s["nginx"], get), median(s["haproxy"], get)
			r.add(kind, metric, format(h), format(n), format(hp), times(h/n), times(h/hp))
			return h, n, hp
		}
		rh, rn, rhp := row(fmt.Sprintf("requests/s, %d keep-alive clients", o.gwClients), func(s gwSample) float64 { return s.rps }, f0)
		row("front CPU while saturated (cores)", func(s gwSample) float64 { return s.cores }, f2)
		ch, cn, chp := row("requests per CPU-second of the front (per core)", func(s gwSample) float64 { return s.perCore }, f0)
		row("backend proxy CPU per request while saturated (µs)", func(s gwSample) float64 { return s.backendUS }, f1)
		for _, rate := range o.rates {
			for q, name := range []string{"p50", "p99"} {
				row(fmt.Sprintf("latency %s at %d req/s (µs)", name, rate), func(s gwSample) float64 { return us(s.lat[rate][q]) }, f0)
			}
		}
		switch kind {
		case terminate:
			r.verdicts = append(r.verdicts, fmt.Sprintf("terminate: requests per CPU-second of the front ≥ nginx's: %s (%s; requests/s %s)",
				met(ch >= goalVsNginx*cn), times(ch/cn), times(rh/rn)))
		case passthrough:
			r.verdicts = append(r.verdicts, fmt.Sprintf("passthrough: requests per CPU-second of the front within 10 %% of haproxy's (≥ %.2f×): %s (%s; requests/s %s)",
				goalVsHaproxy, met(ch >= goalVsHaproxy*chp), times(ch/chp), times(rh/rhp)))
		}
	}
	return r
}

// gatewayMachine is the machine section without stunnel, with nginx's and
// haproxy's versions, what each hop negotiated and the identity each front
// presented to the backend proxy.
func gatewayMachine(o options, t *gatewayTopology, meshParams, meshIDs map[string]string) [][2]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rows [][2]string
	for _, m := range machine(o) {
		if !strings.HasPrefix(m[0], "stunnel") {
			rows = append(rows, m)
		}
	}
	nv, nssl := nginxVersion(ctx, o.nginx)
	hv, hssl := haproxyVersion(ctx, o.haproxy)
	rows = append(rows, [2]string{"nginx", nv}, [2]string{"nginx's OpenSSL", nssl},
		[2]string{"haproxy", hv}, [2]string{"haproxy's OpenSSL", hssl})
	rows = append(rows,
		[2]string{"negotiated, terminate, client to front", byFront(t.public[terminate])},
		[2]string{"negotiated, passthrough, client to app (through the front)", byFront(t.public[passthrough])},
		[2]string{"negotiated, front to backend proxy (mesh)", byFront(meshParams)},
		[2]string{"identity each front presented to the backend proxy", byFront(meshIDs)})
	return rows
}

// byFront lists a value per front, or one value if all fronts agree.
func byFront(v map[string]string) string {
	var parts []string
	same := true
	for _, f := range frontNames {
		parts = append(parts, f+": "+v[f])
		same = same && v[f] == v[frontNames[0]]
	}
	if same {
		return "all three: " + v[frontNames[0]]
	}
	return strings.Join(parts, "; ")
}
