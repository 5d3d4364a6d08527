package ca

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed requests per caller host: a burst, then one every failureEvery.
const (
	failureBurst = 10
	failureEvery = 6 * time.Second
	maxTracked   = 10000
)

// failureLimiter blocks hosts that keep failing, before their requests
// reach an attestor.
type failureLimiter struct {
	mu    sync.Mutex // guards hosts
	hosts map[string]*rate.Limiter
}

func newFailureLimiter() *failureLimiter {
	return &failureLimiter{hosts: map[string]*rate.Limiter{}}
}

func (l *failureLimiter) blocked(host string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.hosts[host]
	if !ok || lim.TokensAt(now) >= 1 {
		return 0, false
	}
	r := lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return wait, true
}

func (l *failureLimiter) fail(host string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.hosts[host]
	if !ok {
		if len(l.hosts) >= maxTracked {
			l.prune(now)
		}
		lim = rate.NewLimiter(rate.Every(failureEvery), failureBurst)
		l.hosts[host] = lim
	}
	lim.AllowN(now, 1)
}

// prune forgets hosts that have fully recovered.
func (l *failureLimiter) prune(now time.Time) {
	for h, lim := range l.hosts {
		if lim.TokensAt(now) >= failureBurst {
			delete(l.hosts, h)
		}
	}
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
