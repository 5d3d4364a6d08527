// Package demo runs hopseal end to end on loopback, with no root: a CA, three
// services (frontend → orders → payments) each behind its own proxy, and taps
// that keep the bytes between the proxies. It drives traffic and checks, from
// the proxies' own flow reports and from the captured bytes, that every
// proxy-to-proxy hop is mutual TLS 1.3 with post-quantum key exchange, that no
// application plaintext crosses it, and that unauthorized callers are refused.
package demo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hopseal/hopseal/internal/ca"
	"github.com/hopseal/hopseal/internal/sidecar"
	"github.com/hopseal/hopseal/internal/store"
)

// Options configure a demo run.
type Options struct {
	Out io.Writer // the human-readable report
	// Log receives the CA's and the proxies' logs; nil discards them.
	Log *slog.Logger
	// Once runs the checks and returns; otherwise the demo keeps serving
	// until ctx ends.
	Once bool
	// Header lines are printed under the title (version, FIPS 140-3 mode).
	Header []string
	// Frontend is the frontend app's listener, where users send requests;
	// nil takes a free loopback port. The demo closes it.
	Frontend net.Listener
	// Checkouts is how many orders the checks place; default 3.
	Checkouts int
}

// ErrChecksFailed is returned (wrapped) when at least one check fails.
var ErrChecksFailed = errors.New("demo: checks failed")

// Run starts the demo, checks it and prints the report. With Once it returns
// at once; otherwise it prints the endpoints and serves until ctx ends.
func Run(ctx context.Context, o Options) (err error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	writeHeader(o.Out, o.Header)
	d, err := Start(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.Close(); err == nil {
			err = cerr
		}
	}()
	rep := d.Check(ctx)
	rep.Write(o.Out)
	if o.Once {
		return rep.Err()
	}
	d.writeEndpoints(o.Out)
	d.follow(o.Out)
	<-d.ctx.Done() // Ctrl-C, or a part failed
	if ctx.Err() == nil {
		return d.Close() // the part's error
	}
	fmt.Fprintln(o.Out, "\nstopping")
	return rep.Err()
}

// Demo is a running demo topology.
type Demo struct {
	opts   Options
	log    *slog.Logger
	dir    string
	ctx    context.Context // ends when the demo stops or a part fails
	cancel context.CancelFunc
	g      *errgroup.Group

	store      *store.Store
	admin      ca.LocalAdmin
	roots      []*x509.Certificate
	bundleFile string
	caAddr     string
	bundleAddr string

	apps     map[string]*app
	sidecars map[string]*sidecar.Sidecar
	hops     []*hop
	flows    *flowLog
	closers  []io.Closer

	closeOnce sync.Once
	closeErr  error
}

// Start builds the topology in a fresh temporary directory and returns once
// every proxy holds its SVID. Close stops it and removes the directory.
func Start(ctx context.Context, o Options) (_ *Demo, err error) {
	if o.Checkouts <= 0 {
		o.Checkouts = 3
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &Demo{opts: o, log: o.Log, sidecars: map[string]*sidecar.Sidecar{}, flows: newFlowLog()}
	if o.Frontend != nil {
		d.closers = append(d.closers, o.Frontend)
	}
	gctx, cancel := context.WithCancel(ctx)
	d.g, d.ctx = errgroup.WithContext(gctx)
	d.cancel = cancel
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.dir, err = os.MkdirTemp("", "hopseal-demo-"); err != nil {
		return nil, fmt.Errorf("demo: temporary directory: %w", err)
	}
	if err := d.build(); err != nil {
		return nil, err
	}
	if err := d.waitReady(d.ctx); err != nil {
		if cerr := d.Close(); cerr != nil {
			return nil, cerr // a part failed: its error says why
		}
		return nil, err
	}
	return d, nil
}

// Close stops every part, waits for it and removes the demo's files. It
// returns the first error a part failed with.
func (d *Demo) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		for _, c := range d.closers {
			c.Close()
		}
		d.closeErr = d.g.Wait()
		if d.store != nil {
			d.store.Close()
		}
		if d.dir != "" {
			os.RemoveAll(d.dir)
		}
	})
	return d.closeErr
}
