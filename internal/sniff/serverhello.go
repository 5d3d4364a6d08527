package sniff

import (
	"bytes"
	"errors"
	"fmt"
)

// What a server's first flight shows in the clear, for telling apart how
// a TLS connection was set up from a capture of it.

// Handshake message types a server sends before encryption starts.
const (
	HandshakeServerHello       = 2
	HandshakeCertificate       = 11
	HandshakeServerKeyExchange = 12
	HandshakeCertificateReq    = 13
	HandshakeServerHelloDone   = 14
)

const (
	recordTypeCCS       = 20
	recordTypeAlert     = 21
	recordTypeAppData   = 23
	maxCiphertextRecord = 1<<14 + 256
	// maxKeptMessage bounds the handshake messages kept whole (ServerHello,
	// ServerKeyExchange); others are skipped by length, not buffered.
	maxKeptMessage = 1 << 16
	curveTypeNamed = 3
)

// helloRetryRandom marks a ServerHello that is a HelloRetryRequest (RFC 8446 4.1.3).
var helloRetryRandom = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// ServerHello is what a TLS server chose.
type ServerHello struct {
	Version         uint16 // legacy_version
	CipherSuite     uint16
	SelectedVersion uint16 // supported_versions (TLS 1.3); 0 when not sent
	KeyShare        uint16 // TLS 1.3: the group of the server's key share
	ALPN            string // the application protocol selected; "" for none
}

// Negotiated is the protocol version in force: supported_versions when
// sent, else legacy_version.
func (h *ServerHello) Negotiated() uint16 {
	if h.SelectedVersion != 0 {
		return h.SelectedVersion
	}
	return h.Version
}

// ServerFlight is what the start of a server's stream shows in the clear.
type ServerFlight struct {
	RecordVersion uint16       // the first record's version
	Hello         *ServerHello // nil until a ServerHello is seen
	HelloRetry    bool         // a HelloRetryRequest came first
	Messages      []uint8      // handshake messages after the ServerHello, in order
	Group         uint16       // TLS 1.2 ECDHE: the named curve of ServerKeyExchange
	Alert         []byte       // level and description of a clear-text alert, if one came
	// Complete is true once more bytes cannot add anything: encryption
	// started, the TLS 1.2 flight ended, or an alert came.
	Complete bool
}

// CertificateRequested reports whether the server asked for a client
// certificate in the clear (TLS 1.2 and older; TLS 1.3 encrypts that).
func (f *ServerFlight) CertificateRequested() bool {
	return bytes.IndexByte(f.Messages, HandshakeCertificateReq) >= 0
}

// ParseServerFlight reads TLS records from the start of a server's stream.
// It returns what it found so far with Complete false while more bytes may
// add to it, and an error (with what it parsed before) as soon as b cannot
// be a server's TLS stream.
func ParseServerFlight(b []byte) (*ServerFlight, error) {
	f := &ServerFlight{}
	var hs handshakeReader
	for off := 0; !f.Complete; {
		h := b[off:]
		if len(h) < recordHeaderLen {
			return f, serverRecordPrefix(h, off)
		}
		typ, n := h[0], int(h[3])<<8|int(h[4])
		if err := checkServerRecord(h, off); err != nil {
			return f, err
		}
		if off == 0 {
			f.RecordVersion = uint16(h[1])<<8 | uint16(h[2])
		}
		body := h[recordHeaderLen:min(len(h), recordHeaderLen+n)]
		if err := f.record(&hs, typ, body); err != nil {
			return f, err
		}
		if len(body) < n {
			return f, nil
		}
		off += recordHeaderLen + n
	}
	return f, nil
}

func serverRecordPrefix(h []byte, off int) error {
	if len(h) > 0 && (h[0] < recordTypeCCS || h[0] > recordTypeAppData) {
		return fmt.Errorf("sniff: offset %d: record type %d is not TLS", off, h[0])
	}
	if len(h) > 1 && h[1] != 3 {
		return fmt.Errorf("sniff: offset %d: record version major %d is not 3", off, h[1])
	}
	return nil
}

func checkServerRecord(h []byte, off int) error {
	if err := serverRecordPrefix(h, off); err != nil {
		return err
	}
	if h[2] > 4 {
		return fmt.Errorf("sniff: offset %d: record version 3.%d is unknown", off, h[2])
	}
	if n := int(h[3])<<8 | int(h[4]); n == 0 || n > maxCiphertextRecord {
		return fmt.Errorf("sniff: offset %d: record length %d is not 1-%d", off, n, maxCiphertextRecord)
	}
	return nil
}

// record takes one record's body (whole, or the part captured so far).
func (f *ServerFlight) record(hs *handshakeReader, typ byte, body []byte) error {
	switch typ {
	case recordTypeHandshake:
		return hs.feed(body, f.message)
	case recordTypeAlert:
		if len(body) >= 2 {
			f.Alert = bytes.Clone(body[:2])
			f.Complete = true
		}
		return nil
	case recordTypeCCS:
		if f.Hello != nil && !f.HelloRetry {
			f.Complete = true
		}
		return nil
	case recordTypeAppData:
		if f.Hello == nil && !f.HelloRetry {
			return errors.New("sniff: application data before a ServerHello")
		}
		f.Complete = true
		return nil
	}
	return fmt.Errorf("sniff: record type %d is not TLS", typ)
}

// message takes one handshake message; body is nil for skipped ones.
func (f *ServerFlight) message(typ byte, body []byte) error {
	if f.Hello == nil {
		if typ != HandshakeServerHello {
			return fmt.Errorf("sniff: handshake message type %d before a ServerHello", typ)
		}
		h, retry, err := parseServerHello(body)
		if err != nil {
			return err
		}
		if retry {
			f.HelloRetry = true
			return nil
		}
		f.Hello = h
		f.Complete = h.Negotiated() >= 0x0304 // the rest of a TLS 1.3 flight is encrypted
		return nil
	}
	f.Messages = append(f.Messages, typ)
	switch typ {
	case HandshakeServerKeyExchange:
		if len(body) >= 3 && body[0] == curveTypeNamed {
			f.Group = uint16(body[1])<<8 | uint16(body[2])
		}
	case HandshakeServerHelloDone:
		f.Complete = true
	}
	return nil
}

// handshakeReader splits handshake records into messages, keeping whole
// only the ones it parses.
type handshakeReader struct {
	hdr  []byte // the current message's header, while incomplete
	typ  byte
	left int    // body bytes still to come; -1 between messages
	keep bool   // the body is kept
	body []byte // kept body so far
	init bool
}

func (r *handshakeReader) feed(b []byte, emit func(typ byte, body []byte) error) error {
	if !r.init {
		r.left, r.init = -1, true
	}
	for len(b) > 0 {
		if r.left < 0 {
			need := 4 - len(r.hdr)
			take := min(need, len(b))
			r.hdr = append(r.hdr, b[:take]...)
			b = b[take:]
			if len(r.hdr) < 4 {
				return nil
			}
			r.typ = r.hdr[0]
			r.left = int(r.hdr[1])<<16 | int(r.hdr[2])<<8 | int(r.hdr[3])
			r.keep = r.typ == HandshakeServerHello || r.typ == HandshakeServerKeyExchange
			if r.keep && r.left > maxKeptMessage {
				return fmt.Errorf("sniff: handshake message type %d of %d bytes is over %d", r.typ, r.left, maxKeptMessage)
			}
			r.hdr, r.body = r.hdr[:0], nil
		}
		take := min(r.left, len(b))
		if r.keep {
			r.body = append(r.body, b[:take]...)
		}
		b, r.left = b[take:], r.left-take
		if r.left == 0 {
			r.left = -1
			if err := emit(r.typ, r.body); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseServerHello parses a ServerHello body (RFC 8446 4.1.3, RFC 5246 7.4.1.3).
func parseServerHello(body []byte) (h *ServerHello, retry bool, err error) {
	c := cursor{b: body}
	h = &ServerHello{Version: c.u16()}
	random := c.take(clientHelloRandomSize)
	if sid := c.vec8(); len(sid) > maxSessionIDLen {
		return nil, false, errors.New("sniff: ServerHello session ID is over 32 bytes")
	}
	h.CipherSuite = c.u16()
	c.skip(1) // compression method
	if !c.ok() {
		return nil, false, errors.New("sniff: ServerHello is truncated")
	}
	retry = bytes.Equal(random, helloRetryRandom)
	if len(c.b) == 0 {
		return h, retry, nil
	}
	exts := c.vec16()
	if !c.ok() || len(c.b) != 0 {
		return nil, false, errors.New("sniff: ServerHello extensions do not fill the message")
	}
	if err := h.parseExtensions(exts, retry); err != nil {
		return nil, false, err
	}
	return h, retry, nil
}

func (h *ServerHello) parseExtensions(b []byte, retry bool) error {
	c := cursor{b: b}
	for len(c.b) > 0 {
		typ, data := c.u16(), c.vec16()
		if !c.ok() {
			return errors.New("sniff: ServerHello extension is truncated")
		}
		d := cursor{b: data}
		switch typ {
		case extSupportedVersions:
			h.SelectedVersion = d.u16()
		case extKeyShare:
			h.KeyShare = d.u16() // a HelloRetryRequest names only the group
			if !retry {
				d.vec16()
			}
		case extALPN:
			list := cursor{b: d.vec16()}
			h.ALPN = string(list.vec8())
			if !list.ok() || len(list.b) != 0 || h.ALPN == "" {
				return errors.New("sniff: ServerHello ALPN is not one protocol")
			}
		default:
			continue
		}
		if !d.ok() || len(d.b) != 0 {
			return fmt.Errorf("sniff: ServerHello extension %d is malformed", typ)
		}
	}
	return nil
}
