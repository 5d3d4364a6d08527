package sidecar

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The proxy's GC target follows the size of its live heap, unless GOGC is
// set in the environment:
//
//   - A large heap is mostly per-connection TLS state that lives as long as
//     its connection. Go's default (GOGC=100) lets as much again accumulate
//     as garbage between collections, which a proxy holding thousands of
//     idle connections pays in resident memory (measured: about 2 KiB per
//     idle socket), so a large heap gets GOGC=50. Its steady-state relay
//     allocates almost nothing, so collecting more often costs little.
//   - A small heap is the opposite case: Go's minimum heap goal (4 MiB ×
//     GOGC/100) then makes the HTTP path's per-request allocations trigger a
//     collection every few hundred requests (measured: four a second at
//     1,000 requests/s with GOGC=50), each of them preempting every running
//     goroutine, which shows in tail latency. A small heap gets GOGC=200.
//
// Between the two sizes the setting stays as it is, so a heap near one
// bound does not flip it back and forth.
const (
	smallHeapGC   = 200
	largeHeapGC   = 50
	smallHeap     = 8 << 20
	largeHeap     = 16 << 20
	gcCheckPeriod = time.Second
)

// gcPercentFor is the GOGC for a live heap of live bytes, given the current one.
func gcPercentFor(live uint64, current int) int {
	switch {
	case live < smallHeap:
		return smallHeapGC
	case live > largeHeap:
		return largeHeapGC
	}
	return current
}

// tuneGC keeps GOGC at gcPercentFor the live heap until ctx ends.
func tuneGC(ctx context.Context) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := smallHeapGC
	debug.SetGCPercent(current)
	tick := time.NewTicker(gcCheckPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(live)
		if live[0].Value.Kind() != metrics.KindUint64 {
			return // not measured by this runtime: keep the setting
		}
		if next := gcPercentFor(live[0].Value.Uint64(), current); next != current {
			debug.SetGCPercent(next)
			current = next
		}
	}
}
