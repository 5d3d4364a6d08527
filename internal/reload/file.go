package reload

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// File holds the latest valid version of a file, as parsed by parse. Value
// is safe for concurrent use and always returns a complete version.
type File[T any] struct {
	w *Watcher
	v atomic.Pointer[T]
}

// NewFile loads the file now: it fails if the file is missing or parse
// rejects it. Run keeps it current.
func NewFile[T any](path string, parse func([]byte) (T, error), log *slog.Logger) (*File[T], error) {
	f := &File[T]{}
	f.w = New(path, DefaultInterval, func(data []byte) error {
		v, err := parse(data)
		if err != nil {
			return err
		}
		f.v.Store(&v)
		return nil
	}, log)
	if err := f.w.Load(); err != nil {
		return nil, err
	}
	return f, nil
}

// Value returns the version in force.
func (f *File[T]) Value() T { return *f.v.Load() }

// Run watches the file until ctx ends.
func (f *File[T]) Run(ctx context.Context) error { return f.w.Run(ctx) }

// Trigger reads the file now (on SIGHUP).
func (f *File[T]) Trigger() { f.w.Trigger() }
