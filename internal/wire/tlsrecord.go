// Package wire checks bytes captured on the wire: whether a stream is TLS
// record framing from end to end, and whether known plaintext leaked into it.
package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// TLS record content types.
const (
	ChangeCipherSpec = 20
	Alert            = 21
	Handshake        = 22
	ApplicationData  = 23
)

// maxRecord is the largest TLS 1.3 ciphertext record body (2^14 + 256).
const maxRecord = 1<<14 + 256

// Records summarises a stream parsed as TLS records.
type Records struct {
	Count     int
	ByType    map[uint8]int
	Bytes     int  // bytes covered by whole records
	Truncated bool // the stream ends inside a record (capture cut short)
}

// ParseTLSRecords reads b as back-to-back TLS records. It fails at the first
// byte that cannot be a record header, naming its offset.
func ParseTLSRecords(b []byte) (Records, error) {
	r := Records{ByType: map[uint8]int{}}
	for off := 0; off < len(b); {
		if len(b)-off < 5 {
			r.Truncated = true
			return r, nil
		}
		typ, major, minor := b[off], b[off+1], b[off+2]
		n := int(binary.BigEndian.Uint16(b[off+3:]))
		switch {
		case typ < ChangeCipherSpec || typ > ApplicationData:
			return r, fmt.Errorf("wire: offset %d: content type %d is not TLS", off, typ)
		case major != 3 || minor < 1 || minor > 4:
			return r, fmt.Errorf("wire: offset %d: record version %d.%d is not TLS", off, major, minor)
		case n == 0 || n > maxRecord:
			return r, fmt.Errorf("wire: offset %d: record length %d out of range", off, n)
		}
		if len(b)-off-5 < n {
			r.Truncated = true
			return r, nil
		}
		r.Count++
		r.ByType[typ]++
		off += 5 + n
		r.Bytes = off
	}
	return r, nil
}

// FindMarkers returns the markers that occur in b.
func FindMarkers(b []byte, markers ...[]byte) [][]byte {
	var found [][]byte
	for _, m := range markers {
		if len(m) > 0 && bytes.Contains(b, m) {
			found = append(found, m)
		}
	}
	return found
}
