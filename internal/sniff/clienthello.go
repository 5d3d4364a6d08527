package sniff

import (
	"errors"
	"fmt"
)

// ErrIncomplete means the bytes so far are a valid beginning of a
// ClientHello and more of them are needed to parse it.
var ErrIncomplete = errors.New("sniff: incomplete ClientHello")

const (
	recordHeaderLen = 5
	maxRecordLen    = 1 << 14 // a plaintext record's largest payload
	// maxHelloLen bounds a ClientHello's body: its vectors sum to ~128 KiB
	// at most, so anything longer is not one.
	maxHelloLen = 1 << 17

	recordTypeHandshake   = 22
	handshakeClientHello  = 1
	extServerName         = 0
	extSupportedGroups    = 10
	extALPN               = 16
	extSupportedVersions  = 43
	extKeyShare           = 51
	serverNameTypeHost    = 0
	maxServerNameLen      = 255
	maxSessionIDLen       = 32
	clientHelloRandomSize = 32
)

// ClientHello is what a TLS client offers in its first message.
type ClientHello struct {
	Version           uint16   // legacy_version (0x0303 for TLS 1.2 and 1.3)
	CipherSuites      []uint16 // in the client's order, GREASE included
	ServerName        string   // the SNI host name; "" when not sent
	ALPN              []string // offered application protocols, in order
	SupportedVersions []uint16 // supported_versions; nil when not sent
	SupportedGroups   []uint16 // supported_groups; nil when not sent
	KeyShares         []uint16 // the groups of the key shares sent
}

// ParseClientHello parses TLS records carrying a ClientHello, which may
// span several records. It returns ErrIncomplete (wrapped) while b is a
// valid prefix of one, and another error as soon as b cannot be one.
// Bytes after the ClientHello are ignored.
func ParseClientHello(b []byte) (*ClientHello, error) {
	msg, err := handshakeMessage(b)
	if err != nil {
		return nil, err
	}
	return parseHello(msg[4:])
}

// handshakeMessage reassembles the first handshake message from records,
// checking each header as soon as its bytes are there.
func handshakeMessage(b []byte) ([]byte, error) {
	var msg []byte
	need := -1 // the message's length with its 4-byte header, once known
	for off, records := 0, 0; ; records++ {
		h := b[off:]
		if err := checkRecordHeader(h, records); err != nil {
			return nil, err
		}
		if len(h) < recordHeaderLen {
			return nil, ErrIncomplete
		}
		n := int(h[3])<<8 | int(h[4])
		frag := h[recordHeaderLen:min(len(h), recordHeaderLen+n)]
		if records == 0 {
			msg = frag // no copy in the common single-record case
		} else {
			msg = append(msg[:len(msg):len(msg)], frag...)
		}
		if need < 0 && len(msg) >= 4 {
			if msg[0] != handshakeClientHello {
				return nil, fmt.Errorf("sniff: handshake message type %d is not a ClientHello", msg[0])
			}
			need = 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if need-4 > maxHelloLen {
				return nil, fmt.Errorf("sniff: ClientHello length %d is over %d", need-4, maxHelloLen)
			}
		}
		if need >= 0 && len(msg) >= need {
			return msg[:need], nil
		}
		if len(frag) < n {
			return nil, ErrIncomplete
		}
		off += recordHeaderLen + n
	}
}

// checkRecordHeader checks whatever part of a record header h holds.
func checkRecordHeader(h []byte, index int) error {
	if len(h) > 0 && h[0] != recordTypeHandshake {
		if index == 0 {
			return fmt.Errorf("sniff: record type %d is not a TLS handshake", h[0])
		}
		return fmt.Errorf("sniff: record type %d inside a ClientHello", h[0])
	}
	if len(h) > 1 && h[1] != 3 {
		return fmt.Errorf("sniff: record version major %d is not 3", h[1])
	}
	if len(h) > 2 && h[2] > 4 {
		return fmt.Errorf("sniff: record version 3.%d is unknown", h[2])
	}
	if len(h) >= recordHeaderLen {
		n := int(h[3])<<8 | int(h[4])
		if n == 0 || n > maxRecordLen {
			return fmt.Errorf("sniff: record length %d is not 1-%d", n, maxRecordLen)
		}
	}
	return nil
}

// parseHello parses a complete ClientHello body (RFC 8446 section 4.1.2).
func parseHello(body []byte) (*ClientHello, error) {
	c := cursor{b: body}
	h := &ClientHello{Version: c.u16()}
	c.skip(clientHelloRandomSize)
	if sid := c.vec8(); len(sid) > maxSessionIDLen {
		return nil, errors.New("sniff: ClientHello session ID is over 32 bytes")
	}
	suites := c.vec16()
	if c.ok() && (len(suites) == 0 || len(suites)%2 != 0) {
		return nil, errors.New("sniff: ClientHello cipher suites are not a non-empty list of 16-bit values")
	}
	h.CipherSuites = u16s(suites)
	if comp := c.vec8(); c.ok() && len(comp) == 0 {
		return nil, errors.New("sniff: ClientHello has no compression methods")
	}
	if !c.ok() {
		return nil, errors.New("sniff: ClientHello is truncated")
	}
	if len(c.b) == 0 {
		return h, nil // no extensions: TLS 1.2 and older allow that
	}
	exts := c.vec16()
	if !c.ok() || len(c.b) != 0 {
		return nil, errors.New("sniff: ClientHello extensions do not fill the message")
	}
	if err := h.parseExtensions(exts); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *ClientHello) parseExtensions(b []byte) error {
	c := cursor{b: b}
	var seen uint64 // the extensions parsed here, by type (all below 64)
	for len(c.b) > 0 {
		typ, data := c.u16(), c.vec16()
		if !c.ok() {
			return errors.New("sniff: ClientHello extension is truncated")
		}
		if typ < 64 {
			// A repeated server_name or ALPN would make the answer depend
			// on which one a server reads.
			if seen&(1<<typ) != 0 {
				return fmt.Errorf("sniff: ClientHello repeats extension %d", typ)
			}
			seen |= 1 << typ
		}
		if err := h.parseExtension(typ, data); err != nil {
			return err
		}
	}
	return nil
}

func (h *ClientHello) parseExtension(typ uint16, data []byte) error {
	var err error
	switch typ {
	case extServerName:
		h.ServerName, err = parseServerName(data)
	case extALPN:
		h.ALPN, err = parseALPN(data)
	case extSupportedVersions:
		h.SupportedVersions, err = u16List(data, true, "supported_versions")
	case extSupportedGroups:
		h.SupportedGroups, err = u16List(data, false, "supported_groups")
	case extKeyShare:
		h.KeyShares, err = parseKeyShares(data)
	}
	return err
}

func parseServerName(data []byte) (string, error) {
	c := cursor{b: data}
	list := c.vec16()
	if !c.ok() || len(c.b) != 0 || len(list) == 0 {
		return "", errors.New("sniff: server_name list is malformed")
	}
	l := cursor{b: list}
	name := ""
	for len(l.b) > 0 {
		typ, v := l.u8(), l.vec16()
		if !l.ok() {
			return "", errors.New("sniff: server_name entry is truncated")
		}
		if typ == serverNameTypeHost && name == "" {
			if !validHostName(v) {
				return "", fmt.Errorf("sniff: server_name %q is not a DNS host name", v)
			}
			name = string(v)
		}
	}
	return name, nil
}

// validHostName accepts the ASCII host names TLS servers accept, so the
// name is safe to log and to use as a metric label.
func validHostName(v []byte) bool {
	if len(v) == 0 || len(v) > maxServerNameLen || v[len(v)-1] == '.' {
		return false
	}
	for _, ch := range v {
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '-', ch == '.', ch == '_':
		default:
			return false
		}
	}
	return true
}

func parseALPN(data []byte) ([]string, error) {
	c := cursor{b: data}
	list := c.vec16()
	if !c.ok() || len(c.b) != 0 || len(list) == 0 {
		return nil, errors.New("sniff: ALPN list is malformed")
	}
	l := cursor{b: list}
	var protos []string
	for len(l.b) > 0 {
		p := l.vec8()
		if !l.ok() || len(p) == 0 {
			return nil, errors.New("sniff: ALPN protocol name is empty or truncated")
		}
		protos = append(protos, string(p))
	}
	return protos, nil
}

// u16List parses a vector of 16-bit values with an 8- or 16-bit length.
func u16List(data []byte, short bool, what string) ([]uint16, error) {
	c := cursor{b: data}
	var v []byte
	if short {
		v = c.vec8()
	} else {
		v = c.vec16()
	}
	if !c.ok() || len(c.b) != 0 || len(v) == 0 || len(v)%2 != 0 {
		return nil, fmt.Errorf("sniff: %s is not a non-empty list of 16-bit values", what)
	}
	return u16s(v), nil
}

func parseKeyShares(data []byte) ([]uint16, error) {
	c := cursor{b: data}
	list := c.vec16()
	if !c.ok() || len(c.b) != 0 {
		return nil, errors.New("sniff: key_share list is malformed")
	}
	l := cursor{b: list}
	groups := []uint16{}
	for len(l.b) > 0 {
		g, key := l.u16(), l.vec16()
		if !l.ok() || len(key) == 0 {
			return nil, errors.New("sniff: key_share entry is empty or truncated")
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func u16s(b []byte) []uint16 {
	if len(b) == 0 {
		return nil
	}
	v := make([]uint16, len(b)/2)
	for i := range v {
		v[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return v
}

// cursor reads big-endian values and length-prefixed vectors; once a read
// runs past the end it stays failed and returns zero values.
type cursor struct {
	b   []byte
	bad bool
}

func (c *cursor) ok() bool { return !c.bad }

func (c *cursor) take(n int) []byte {
	if c.bad || n > len(c.b) {
		c.bad = true
		c.b = nil
		return nil
	}
	v := c.b[:n:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) skip(n int) { c.take(n) }

func (c *cursor) u8() byte {
	if v := c.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if v := c.take(2); v != nil {
		return uint16(v[0])<<8 | uint16(v[1])
	}
	return 0
}

func (c *cursor) vec8() []byte  { return c.take(int(c.u8())) }
func (c *cursor) vec16() []byte { return c.take(int(c.u16())) }
