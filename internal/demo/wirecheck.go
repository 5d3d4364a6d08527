package demo

import (
	"errors"
	"fmt"

	"github.com/hopseal/hopseal/internal/wire"
)

// CheckCiphertext checks one direction of one captured connection: it must
// be TLS records from its first byte to its last, hold both a handshake and
// encrypted application data, and contain none of the markers.
func CheckCiphertext(b []byte, markers [][]byte) (wire.Records, error) {
	if len(b) == 0 {
		return wire.Records{}, errors.New("no bytes captured")
	}
	if found := wire.FindMarkers(b, markers...); len(found) > 0 {
		return wire.Records{}, fmt.Errorf("plaintext on the wire: %q", found)
	}
	r, err := wire.ParseTLSRecords(b)
	switch {
	case err != nil:
		return r, err
	case r.Truncated:
		return r, fmt.Errorf("stream ends inside a TLS record at offset %d", r.Bytes)
	case r.ByType[wire.Handshake] == 0:
		return r, errors.New("no TLS handshake record")
	case r.ByType[wire.ApplicationData] == 0:
		return r, errors.New("no encrypted application data record")
	}
	return r, nil
}

// SummariseWire checks both directions of every capture between two proxies.
func SummariseWire(caps []Capture, markers [][]byte) WireCapture {
	var w WireCapture
	for i, c := range caps {
		w.Connections++
		w.Up += len(c.Up)
		w.Down += len(c.Down)
		if c.Truncated {
			w.Problems = append(w.Problems, fmt.Sprintf("connection %d: capture truncated", i+1))
		}
		for _, dir := range []struct {
			name string
			b    []byte
		}{{"client → server", c.Up}, {"server → client", c.Down}} {
			for _, m := range wire.FindMarkers(dir.b, markers...) {
				w.Leaked = appendNew(w.Leaked, string(m))
			}
			r, err := CheckCiphertext(dir.b, markers)
			if err != nil {
				w.Problems = append(w.Problems, fmt.Sprintf("connection %d %s: %v", i+1, dir.name, err))
			}
			w.Records += r.Count
			w.Handshake += r.ByType[wire.Handshake]
			w.Data += r.ByType[wire.ApplicationData]
		}
	}
	return w
}

// SummarisePlain reports which markers occur on an app ↔ proxy leg.
func SummarisePlain(caps []Capture, markers [][]byte) PlainCapture {
	p := PlainCapture{Connections: len(caps)}
	seen := map[string]bool{}
	for _, c := range caps {
		p.Bytes += len(c.Up) + len(c.Down)
		for _, b := range [][]byte{c.Up, c.Down} {
			for _, m := range wire.FindMarkers(b, markers...) {
				seen[string(m)] = true
			}
		}
	}
	for _, m := range markers {
		if seen[string(m)] {
			p.Found = append(p.Found, string(m))
		}
	}
	return p
}
