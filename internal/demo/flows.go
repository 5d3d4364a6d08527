package demo

import (
	"context"
	"fmt"
	"sync"

	"github.com/hopseal/hopseal/internal/proxy"
)

// ServiceFlow is a flow reported by the proxy of one service.
type ServiceFlow struct {
	Service string
	proxy.Flow
}

// flowLog keeps every flow the demo's proxies report, so the checks can read
// identities, TLS parameters and decisions from the proxies themselves.
type flowLog struct {
	mu      sync.Mutex // guards the fields below
	flows   []ServiceFlow
	changed chan struct{} // closed and replaced on every flow
	live    func(ServiceFlow)
	keep    bool
}

func newFlowLog() *flowLog { return &flowLog{changed: make(chan struct{}), keep: true} }

// observer returns the proxy.Observer for one service's sidecar.
func (l *flowLog) observer(service string) proxy.Observer {
	return flowObserver{log: l, service: service}
}

// follow stops keeping flows (a long-running demo must not grow) and passes
// each new one to fn instead.
func (l *flowLog) follow(fn func(ServiceFlow)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keep, l.live = false, fn
}

func (l *flowLog) add(f ServiceFlow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keep {
		l.flows = append(l.flows, f)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	if l.live != nil {
		l.live(f)
	}
}

// wait returns the flows that match once there are at least n, or an error
// naming what was missing when ctx ends.
func (l *flowLog) wait(ctx context.Context, n int, what string, match func(ServiceFlow) bool) ([]ServiceFlow, error) {
	for {
		l.mu.Lock()
		var got []ServiceFlow
		for _, f := range l.flows {
			if match(f) {
				got = append(got, f)
			}
		}
		ch := l.changed
		l.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("%s: %d of %d flows reported: %w", what, len(got), n, ctx.Err())
		case <-ch:
		}
	}
}

type flowObserver struct {
	log     *flowLog
	service string
}

func (flowObserver) FlowStarted(proxy.Flow) {}

func (o flowObserver) FlowEnded(f proxy.Flow) { o.log.add(ServiceFlow{Service: o.service, Flow: f}) }
