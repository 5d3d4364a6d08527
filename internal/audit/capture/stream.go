package capture

// stream collects the first bytes of one direction of a TCP connection, in
// sequence order, up to a limit: classification needs a connection's start,
// never all of it. Segments that arrive ahead of a hole wait, bounded too.
type stream struct {
	started bool   // base is set
	fromSYN bool   // base came from the SYN: data starts at the stream's first byte
	base    uint32 // sequence number of data[0]
	data    []byte // contiguous bytes from base
	pending []segment
	held    int  // bytes in pending
	gap     bool // a hole that cannot be filled: data ends there for good
	packets int
	bytes   int64 // payload bytes on the wire, all of them
	fin     bool
	rst     bool
}

type segment struct {
	off  int
	data []byte
	cut  bool // the snap length cut it
}

// maxPending bounds the segments held ahead of a hole.
const maxPending = 32

// buffered is the memory the stream holds.
func (s *stream) buffered() int { return cap(s.data) + s.held }

// full reports whether more bytes would be dropped anyway.
func (s *stream) full(limit int) bool { return len(s.data) >= limit || s.gap }

// release drops the buffers once the connection is classified.
func (s *stream) release() {
	s.data, s.pending, s.held = nil, nil, 0
	s.gap = true
}

// add takes one packet of this direction. wireLen is the payload's length
// on the wire; a shorter payload was cut by the capture's snap length.
func (s *stream) add(p *packet, limit int) {
	s.packets++
	s.bytes += int64(p.wireLen)
	s.fin = s.fin || p.fin
	s.rst = s.rst || p.rst
	if p.syn {
		if !s.started || !s.fromSYN && len(s.data) == 0 {
			s.started, s.fromSYN, s.base = true, true, p.seq+1
		}
		return // data on a SYN (TCP Fast Open) is rare: ignored
	}
	if p.wireLen == 0 {
		return
	}
	if !s.started {
		s.started, s.base = true, p.seq
	}
	if s.gap || len(s.data) >= limit {
		return
	}
	off := int(int32(p.seq - s.base))
	payload, cut := p.payload, len(p.payload) < p.wireLen
	if off < 0 { // a retransmit reaching back before byte 0
		if -off >= len(payload) {
			return
		}
		payload, off = payload[-off:], 0
	}
	if off > len(s.data) {
		s.hold(off, payload, cut, limit)
		return
	}
	s.place(off, payload, cut, limit)
	s.drain(limit)
}

// place appends the part of payload (at offset off ≤ len(data)) not held yet.
func (s *stream) place(off int, payload []byte, cut bool, limit int) {
	end := off + len(payload)
	if end <= len(s.data) {
		return // a retransmit of bytes already placed
	}
	room := limit - len(s.data)
	fresh := payload[len(s.data)-off:]
	if len(fresh) > room {
		fresh, cut = fresh[:room], false
	}
	if s.data == nil {
		s.data = make([]byte, 0, min(limit, max(len(fresh), 2048)))
	}
	s.data = append(s.data, fresh...)
	if cut {
		s.gap = true // the snap length cut this packet: the bytes after it are lost
	}
}

// hold keeps a segment that arrived ahead of a hole; past the bounds the
// hole is given up on.
func (s *stream) hold(off int, payload []byte, cut bool, limit int) {
	if off >= limit {
		return
	}
	if len(s.pending) >= maxPending || s.held+len(payload) > limit {
		s.gap = true
		return
	}
	s.pending = append(s.pending, segment{off: off, data: append([]byte(nil), payload...), cut: cut})
	s.held += len(payload)
}

// drain places held segments that the data now reaches.
func (s *stream) drain(limit int) {
	for moved := true; moved && len(s.pending) > 0; {
		moved = false
		for i := 0; i < len(s.pending); i++ {
			seg := s.pending[i]
			if seg.off > len(s.data) {
				continue
			}
			s.place(seg.off, seg.data, seg.cut, limit)
			s.held -= len(seg.data)
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			i--
			moved = true
		}
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
}
