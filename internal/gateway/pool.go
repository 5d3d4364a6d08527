package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"sync"
	"time"

	"github.com/hopseal/hopseal/internal/telemetry"
)

// backendPool keeps the fast path's (h1.go) connections to one backend open
// between requests, as http.Transport does for net/http's path: mesh mTLS,
// or a reencrypt backend's TLS, is set up once per connection, not per
// request.
type backendPool struct {
	addr    string
	cfg     *tls.Config
	timeout time.Duration // dial and handshake

	mu     sync.Mutex
	idle   []*pooledConn // most recently used last
	closed bool
}

// pooledConn is a backend connection with its buffers, which it keeps while
// idle: at most maxIdlePerBackend per backend.
type pooledConn struct {
	tc            *tls.Conn
	br            *bufio.Reader
	bw            *bufio.Writer
	fresh, reused *telemetry.Upstream // for /connections, described once
	used          bool
	since         time.Time // idle since
}

const (
	poolReaderSize = 16 << 10 // a response head must fit, or it takes net/http's way
	poolWriterSize = 8 << 10
)

func newBackendPool(addr string, cfg *tls.Config, timeout time.Duration) *backendPool {
	return &backendPool{addr: addr, cfg: cfg, timeout: timeout}
}

// get returns an idle connection, or a new one: reused says which.
func (p *backendPool) get() (mc *pooledConn, reused bool, err error) {
	now := time.Now()
	p.mu.Lock()
	for len(p.idle) > 0 && mc == nil {
		mc = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(mc.since) > backendIdle {
			mc.tc.Close()
			mc = nil
		}
	}
	p.mu.Unlock()
	if mc != nil {
		return mc, true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	tc, err := dialTLS(ctx, p.addr, p.cfg)
	if err != nil {
		return nil, false, err
	}
	mc = &pooledConn{tc: tc, br: bufio.NewReaderSize(tc, poolReaderSize), bw: bufio.NewWriterSize(tc, poolWriterSize)}
	mc.fresh = upstreamOf(tc)
	r := *mc.fresh
	r.Reused = true
	mc.reused = &r
	return mc, false, nil
}

// upstream describes mc for the request that uses it now.
func (mc *pooledConn) upstream() *telemetry.Upstream {
	if mc.used {
		return mc.reused
	}
	mc.used = true
	return mc.fresh
}

// put keeps mc for the next request, or closes it when the pool is full or
// closed.
func (p *backendPool) put(mc *pooledConn) {
	mc.since = time.Now()
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxIdlePerBackend {
		p.idle = append(p.idle, mc)
		mc = nil
	}
	p.mu.Unlock()
	if mc != nil {
		mc.tc.Close()
	}
}

// close closes the idle connections and those put back from now on.
func (p *backendPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, mc := range idle {
		mc.tc.Close()
	}
}
