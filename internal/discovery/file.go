package discovery

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/hopseal/hopseal/internal/reload"
)

// File is a Source backed by a discovery file that is reloaded when it
// changes. Lookup always sees one complete table; an invalid new version is
// logged and the previous table stays in force.
type File struct {
	f *reload.File[*Table]
}

// NewFile loads path now; it fails if the file is missing or invalid.
func NewFile(path string, log *slog.Logger) (*File, error) {
	f, err := reload.NewFile(path, Parse, log)
	if err != nil {
		return nil, err
	}
	return &File{f: f}, nil
}

// Run watches the file until ctx ends.
func (f *File) Run(ctx context.Context) error { return f.f.Run(ctx) }

// Trigger reads the file now (the proxy calls it on SIGHUP).
func (f *File) Trigger() { f.f.Trigger() }

// Lookup returns the identities expected at dst in the table in force.
func (f *File) Lookup(dst netip.AddrPort) (Expect, bool) { return f.f.Value().Lookup(dst) }

// Table returns the table in force.
func (f *File) Table() *Table { return f.f.Value() }
