package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hopseal/hopseal/internal/config"
	"github.com/hopseal/hopseal/internal/proxy"
)

// dynamic holds the listeners the controller configures: they come, change
// and go while the gateway runs. A listener whose address and settings
// stay keeps its socket and its open connections; only its routes change,
// atomically, and the next request on an open connection already uses the
// new ones. A listener whose settings change is bound anew, and its old
// connections get the drain timeout.
type dynamic struct {
	g       *Gateway
	applyMu sync.Mutex // one Apply at a time

	mu      sync.Mutex // guards what follows
	list    []*dynListener
	ctx     context.Context // nil before run
	fail    context.CancelCauseFunc
	stopped bool
	wg      sync.WaitGroup
}

// dynListener is one bound socket and the version of its listener in force.
type dynListener struct {
	ln   net.Listener
	cur  atomic.Pointer[listener]
	stop context.CancelFunc // nil until it serves
}

// run serves the listeners, those there now and those Apply adds, until
// ctx ends or one fails; it returns once all are done.
func (d *dynamic) run(parent context.Context) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	d.mu.Lock()
	d.ctx, d.fail = ctx, cancel
	for _, dl := range d.list {
		d.startLocked(dl)
	}
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	d.wg.Wait()
	if err := context.Cause(ctx); parent.Err() == nil && err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// startLocked serves dl: its own proxy (accept, drain) and HTTP server.
// Each connection is opened with the listener version in force.
func (d *dynamic) startLocked(dl *dynListener) {
	if d.ctx == nil {
		return // run starts it
	}
	if d.stopped {
		dl.ln.Close()
		return
	}
	g := d.g
	lctx, stop := context.WithCancel(d.ctx)
	dl.stop = stop
	l := dl.cur.Load()
	p := proxy.New(proxy.Options{HandshakeTimeout: g.handshake, DrainTimeout: g.drain})
	pl := proxy.Listener{Name: l.cfg.Name, Direction: proxy.Inbound, Listener: dl.ln,
		Open: func(ctx context.Context, c net.Conn, f *proxy.Flow) (*proxy.Stream, error) {
			return g.opener(dl.cur.Load())(ctx, c, f)
		}}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		if err := l.http.run(lctx, g.drain); err != nil {
			d.fail(err)
		}
	}()
	go func() {
		defer d.wg.Done()
		if err := p.Serve(lctx, pl); err != nil {
			d.fail(err)
		}
	}()
}

// stopLocked stops accepting on dl at once (the port is free for a new
// listener) and lets its connections drain.
func (d *dynamic) stopLocked(dl *dynListener) {
	if dl.stop != nil {
		dl.stop() // first, so the accept loop takes the close for a stop
	}
	dl.ln.Close()
}

// listeners are the versions in force.
func (d *dynamic) listeners() []*listener {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*listener, 0, len(d.list))
	for _, dl := range d.list {
		out = append(out, dl.cur.Load())
	}
	return out
}

// sameSocket: a listener can change its routes in place only if nothing
// that its socket, HTTP server or metrics label depend on changes.
func sameSocket(a, b config.GatewayListener) bool {
	return a.Name == b.Name && a.Listen == b.Listen && a.ProxyProtocol == b.ProxyProtocol &&
		a.ClientCAFile == b.ClientCAFile && a.RedirectPort == b.RedirectPort
}

// applyStep is what Apply does with one listener of the new configuration.
type applyStep struct {
	cfg  config.GatewayListener
	keep *dynListener // its socket stays; next swaps in
	next *listener    // the new version
	bind bool         // next was built on a placeholder: bind its port when the old socket is closed
}

// Apply puts listeners in force, all or nothing as far as building goes:
// every route is built and every new port bound before anything changes,
// so a configuration that fails leaves the one in force serving.
// Certificates must be in memory (Route.Cert). Listeners the configuration
// no longer has stop accepting and drain.
func (g *Gateway) Apply(ls []config.GatewayListener) error {
	d := g.dyn
	if d == nil {
		return errors.New("gateway: Apply needs a gateway configured by the controller")
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	d.mu.Lock()
	cur := slices.Clone(d.list)
	d.mu.Unlock()
	var steps []applyStep
	var bound []net.Listener
	fail := func(err error) error {
		for _, ln := range bound {
			ln.Close()
		}
		return err
	}
	for i, lc := range ls {
		at := fmt.Sprintf("listeners[%d]", i)
		if err := memoryOnly(lc, at); err != nil {
			return fail(err)
		}
		s := applyStep{cfg: lc, keep: findListen(cur, lc.Listen)}
		var ln net.Listener
		switch {
		case s.keep != nil && sameSocket(s.keep.cur.Load().cfg, lc):
			ln = s.keep.ln
		case s.keep != nil:
			s.keep, s.bind, ln = nil, true, placeholder(lc.Listen)
		default:
			var err error
			if ln, err = net.Listen("tcp", lc.Listen); err != nil {
				return fail(fmt.Errorf("%s.listen %q: %w", at, lc.Listen, err))
			}
			bound = append(bound, ln)
		}
		next, err := g.buildListener(lc, at, ln)
		if err != nil {
			return fail(err)
		}
		if s.keep != nil {
			next.http = s.keep.cur.Load().http // the same server: its connections stay
		}
		s.next = next
		steps = append(steps, s)
	}
	return d.commit(cur, steps)
}

// commit swaps routes, stops the listeners that go, rebinds those whose
// settings changed and starts the new ones.
func (d *dynamic) commit(cur []*dynListener, steps []applyStep) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := map[*dynListener]bool{}
	for _, s := range steps {
		if s.keep != nil {
			kept[s.keep] = true
		}
	}
	var superseded []*listener
	for _, dl := range cur {
		if !kept[dl] {
			d.stopLocked(dl)
			superseded = append(superseded, dl.cur.Load())
		}
	}
	var list []*dynListener
	var errs []error
	for i, s := range steps {
		if s.keep != nil {
			s.next.dyn = s.keep
			superseded = append(superseded, s.keep.cur.Swap(s.next))
			list = append(list, s.keep)
			continue
		}
		if s.bind {
			ln, err := net.Listen("tcp", s.cfg.Listen)
			if err != nil {
				errs = append(errs, fmt.Errorf("listeners[%d].listen %q: %w", i, s.cfg.Listen, err))
				continue
			}
			s.next.ln = ln
		}
		dl := &dynListener{ln: s.next.ln}
		s.next.dyn = dl
		dl.cur.Store(s.next)
		d.startLocked(dl)
		list = append(list, dl)
	}
	d.list = list
	closeIdle(superseded)
	return errors.Join(errs...)
}

func findListen(list []*dynListener, addr string) *dynListener {
	for _, dl := range list {
		if dl.cur.Load().cfg.Listen == addr {
			return dl
		}
	}
	return nil
}

// memoryOnly refuses what Apply cannot keep current: certificates from
// files or ACME belong in a gateway's file.
func memoryOnly(lc config.GatewayListener, at string) error {
	if lc.ClientCAFile != "" {
		return fmt.Errorf("%s.client_ca_file: a configured listener takes no files", at)
	}
	for j, r := range lc.Routes {
		if r.CertFile != "" || r.ACME != nil || (r.Mode != config.Passthrough && r.Cert == nil) {
			return fmt.Errorf("%s.routes[%d] (%s): a configured route carries its certificate in memory", at, j, r.Hostname)
		}
	}
	return nil
}

// closeIdle closes the idle backend connections of listener versions no
// longer in force; requests in flight on them finish.
func closeIdle(ls []*listener) {
	for _, l := range ls {
		for _, r := range l.list {
			for _, b := range r.backends {
				b.closeIdle()
			}
		}
	}
}

// placeholder stands for a socket not bound yet while a listener is built.
type placeholder string

func (p placeholder) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (p placeholder) Close() error              { return nil }
func (p placeholder) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", string(p))
	if a == nil {
		return &net.TCPAddr{}
	}
	return a
}

// latestRoute is the route a request on cs takes: on a listener the
// controller configures, the current version of the connection's route
// (nil when it is no longer served), so a change applies to open
// connections at their next request.
func (g *Gateway) latestRoute(cs *conn) *route {
	dl := cs.listener.dyn
	if dl == nil || dl.cur.Load() == cs.listener {
		return cs.route
	}
	r := dl.cur.Load().routes.lookup(cs.route.cfg.Hostname)
	if r == nil || r.cfg.Mode != cs.route.cfg.Mode {
		return nil
	}
	return r
}

// allListeners are the file's listeners and the configured ones.
func (g *Gateway) allListeners() []*listener {
	if g.dyn == nil {
		return g.listeners
	}
	return append(slices.Clone(g.listeners), g.dyn.listeners()...)
}
