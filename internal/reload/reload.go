// Package reload watches a configuration file and applies each new version.
// Changes are found by polling size, mtime, ctime and inode (so an editor's
// or Kubernetes' rename-replace is seen) and confirmed by content hash. A
// version that fails to apply is logged and the previous one stays in force.
//
// Write files atomically (write a temporary file, then rename it over the
// old one): a file that changes while it is read is read again on the next
// check, but a writer that stalls half-way can still be caught in between.
package reload

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultInterval is how often files are checked when no interval is given.
const DefaultInterval = time.Second

// MaxSize caps a watched file; parsers apply their own, smaller caps.
const MaxSize = 16 << 20

// Watcher applies a file's content now and on every change.
type Watcher struct {
	path  string
	every time.Duration
	apply func([]byte) error
	log   *slog.Logger
	kick  chan struct{}

	mu      sync.Mutex // guards the fields below; held while checking
	loaded  bool
	seen    stamp    // the file as last read; zero: read it next time
	read    [32]byte // hash of the content last read
	sum     [32]byte // hash of the content in force
	problem string   // the last read problem logged, to log each once
	invalid bool     // the file's content failed to apply
}

// Watch calls apply with the file's content now (an error here is returned)
// and then whenever the file changes, checked every `every`, until ctx ends.
func Watch(ctx context.Context, path string, every time.Duration, apply func([]byte) error, log *slog.Logger) error {
	return New(path, every, apply, log).Run(ctx)
}

// New returns a Watcher; nothing is read until Load or Run. every <= 0 means
// DefaultInterval; a nil log discards.
func New(path string, every time.Duration, apply func([]byte) error, log *slog.Logger) *Watcher {
	if every <= 0 {
		every = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{path: path, every: every, apply: apply, log: log.With("path", path), kick: make(chan struct{}, 1)}
}

// Load reads the file and applies it now, returning any error.
func (w *Watcher) Load() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, st, err := read(w.path)
	if err != nil {
		return err
	}
	if err := w.apply(data); err != nil {
		return fmt.Errorf("reload: %s: %w", w.path, err)
	}
	w.loaded, w.sum = true, sha256.Sum256(data)
	w.seen, w.read = settled(st), w.sum
	return nil
}

// Run loads the file unless Load already did (an error here is returned),
// then checks it every interval and on Trigger until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	w.mu.Lock()
	loaded := w.loaded
	w.mu.Unlock()
	if !loaded {
		if err := w.Load(); err != nil {
			return err
		}
	}
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.check(false)
		case <-w.kick:
			w.check(true)
		}
	}
}

// Trigger asks Run to read the file now, even if it looks unchanged (the
// proxy calls it on SIGHUP). It never blocks.
func (w *Watcher) Trigger() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// check applies the file if it changed. force reads it whatever its stamp.
func (w *Watcher) check(force bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, ok := w.readChanged(force)
	if !ok {
		return
	}
	sum := sha256.Sum256(data)
	if sum == w.read && !force {
		return
	}
	w.read = sum
	if sum == w.sum {
		if w.invalid {
			w.invalid = false
			w.log.Info("file is back to the version in force")
		}
		return
	}
	if err := w.apply(data); err != nil {
		w.invalid = true
		w.log.Error("file changed but is not valid; keeping the version in force", "err", err)
		return
	}
	w.sum, w.invalid = sum, false
	w.log.Info("file reloaded")
}

// readChanged reads the file if its stamp changed (or force), logging each
// distinct read problem once.
func (w *Watcher) readChanged(force bool) ([]byte, bool) {
	st, err := statFile(w.path)
	if err == nil && st == w.seen && !force {
		return nil, false
	}
	var data []byte
	if err == nil {
		data, st, err = read(w.path)
	}
	if err != nil {
		w.seen = stamp{} // so the file is read when it is back
		if msg := problemOf(err); msg != w.problem {
			w.problem = msg
			w.log.Error("cannot read the file; keeping the version in force", "err", err)
		}
		return nil, false
	}
	if now, err := statFile(w.path); err != nil || now != st {
		return nil, false // changed while being read: read it again next time
	}
	w.seen, w.problem = settled(st), ""
	return data, true
}

// racyWindow is longer than any file system's timestamp granularity: a file
// modified this recently may change again without its stamp changing.
const racyWindow = 2 * time.Second

// settled returns st, or the zero stamp when st is too fresh to trust, so
// that the next check reads the file again (the hash then says whether it
// really changed).
func settled(st stamp) stamp {
	if time.Since(time.Unix(0, max(st.mtime, st.ctime))) < racyWindow {
		return stamp{}
	}
	return st
}

// read returns the file's content and its stamp before reading.
func read(path string) ([]byte, stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, stamp{}, fmt.Errorf("reload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, stamp{}, fmt.Errorf("reload: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, stamp{}, fmt.Errorf("reload: read %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, stamp{}, fmt.Errorf("reload: %s is over the %d-byte limit", path, MaxSize)
	}
	return data, stampOf(fi), nil
}

// problemOf is what makes two read problems one: the cause, not the call
// that met it (a file removed between stat and open fails either).
func problemOf(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}
