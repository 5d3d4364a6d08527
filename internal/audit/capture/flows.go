package capture

import (
	"net/netip"
	"time"
)

// The connection table: each TCP connection from its first packet until it
// ends, idles out or is evicted to bound memory. A connection is classified
// as soon as its bytes allow, and its buffers are freed then; what remains
// is a small record that counts packets until the connection leaves.

type connKey struct{ a, b netip.AddrPort } // a < b

func keyOf(x, y netip.AddrPort) connKey {
	if x.Compare(y) < 0 {
		return connKey{x, y}
	}
	return connKey{y, x}
}

type conn struct {
	index          int // order of first packet, as tshark's tcp.stream
	client, server netip.AddrPort
	c, s           stream // client → server, server → client
	first, last    time.Time
	decided        bool
	tried          int // buffered bytes at the last classification attempt
	verdict        Verdict
	prev, next     *conn // LRU order by last packet: head newest
}

func (c *conn) ended() bool { return c.c.rst || c.s.rst || c.c.fin && c.s.fin }

// table holds the open connections.
type table struct {
	opts     *Options
	conns    map[connKey]*conn
	head     *conn // newest
	tail     *conn // oldest
	buffered int   // bytes held by undecided connections' streams
	next     int   // index of the next connection
	emit     func(*conn)
	evicted  int // connections decided early to stay within memory bounds
}

func newTable(o *Options, emit func(*conn)) *table {
	return &table{opts: o, conns: map[connKey]*conn{}, emit: emit}
}

// add takes one TCP packet.
func (t *table) add(p *packet, ts time.Time) {
	src, dst := netip.AddrPortFrom(p.src, p.sport), netip.AddrPortFrom(p.dst, p.dport)
	k := keyOf(src, dst)
	c := t.conns[k]
	if c != nil && p.syn && !p.ack && src == c.client && (c.ended() || c.c.fromSYN && p.seq+1 != c.c.base) {
		t.remove(c) // the 4-tuple is reused by a new connection
		c = nil
	}
	if c == nil {
		c = t.open(k, src, dst, p, ts)
	}
	t.touch(c, ts)
	before := c.c.buffered() + c.s.buffered()
	if src == c.client {
		c.c.add(p, t.opts.StreamBytes)
	} else {
		c.s.add(p, t.opts.StreamBytes)
	}
	if !c.decided {
		t.buffered += c.c.buffered() + c.s.buffered() - before
		t.tryClassify(c)
	}
	t.expire(ts)
}

func (t *table) open(k connKey, src, dst netip.AddrPort, p *packet, ts time.Time) *conn {
	for len(t.conns) >= t.opts.MaxConnections && t.tail != nil {
		t.evicted++
		t.remove(t.tail)
	}
	c := &conn{index: t.next, first: ts}
	t.next++
	c.client, c.server = src, dst
	if !clientSent(p) {
		c.client, c.server = dst, src
	}
	t.conns[k] = c
	return c
}

// clientSent guesses whether a connection's first packet seen came from
// its client: a SYN says so; otherwise the server is the end whose port
// is not ephemeral, or else the lower port.
func clientSent(p *packet) bool {
	switch {
	case p.syn:
		return !p.ack
	case p.sport >= ephemeral && p.dport < ephemeral:
		return true
	case p.dport >= ephemeral && p.sport < ephemeral:
		return false
	}
	return p.sport >= p.dport
}

// ephemeral is where Linux's (and IANA's, at 49152) ephemeral ports start.
const ephemeral = 32768

// tryClassify classifies an undecided connection when its bytes grew
// enough since the last attempt (attempts are geometric, not per packet).
func (t *table) tryClassify(c *conn) {
	limit := t.opts.StreamBytes
	final := c.ended() || c.c.full(limit) && c.s.full(limit)
	have := len(c.c.data) + len(c.s.data)
	if !final && (have == c.tried || c.tried > 0 && have < c.tried+max(64, c.tried/4)) {
		return
	}
	c.tried = have
	v, done := classify(c.c.data, c.s.data, t.info(c), final)
	if done {
		t.decide(c, v)
	}
}

func (t *table) info(c *conn) *connInfo {
	return &connInfo{
		clientPort: c.client.Port(), serverPort: c.server.Port(),
		handshake: c.c.fromSYN || c.s.fromSYN,
		meshPort:  t.opts.meshPort(c.server.Port()),
	}
}

func (t *table) decide(c *conn, v Verdict) {
	if c.c.gap && len(c.c.data) < t.opts.StreamBytes || c.s.gap && len(c.s.data) < t.opts.StreamBytes {
		v.Notes = append(v.Notes, "packets missing from the capture (or cut by its snap length) ended the bytes examined")
	}
	t.buffered -= c.c.buffered() + c.s.buffered()
	c.c.release()
	c.s.release()
	c.decided, c.verdict = true, v
}

// finish classifies c with what it has.
func (t *table) finish(c *conn) {
	if !c.decided {
		v, _ := classify(c.c.data, c.s.data, t.info(c), true)
		t.decide(c, v)
	}
}

func (t *table) remove(c *conn) {
	t.finish(c)
	t.unlink(c)
	delete(t.conns, keyOf(c.client, c.server))
	t.emit(c)
}

// expire removes idle connections, ended ones after a grace period (their
// last ACKs still come), and decides the oldest undecided ones while
// buffers exceed their budget.
func (t *table) expire(now time.Time) {
	for c := t.tail; c != nil; c = t.tail {
		idle := now.Sub(c.last)
		if idle < t.opts.IdleTimeout && (!c.ended() || idle < endGrace) {
			break
		}
		t.remove(c)
	}
	for c := t.tail; c != nil && t.buffered > t.opts.MaxBuffered; c = c.prev {
		if !c.decided {
			t.evicted++
			t.finish(c)
		}
	}
}

// endGrace is how long an ended connection stays for its last packets.
const endGrace = 2 * time.Second

// flush removes every connection, oldest first.
func (t *table) flush() {
	for t.tail != nil {
		t.remove(t.tail)
	}
}

func (t *table) touch(c *conn, ts time.Time) {
	if ts.After(c.last) {
		c.last = ts
	}
	if t.head == c {
		return
	}
	t.unlink(c)
	c.next = t.head
	if t.head != nil {
		t.head.prev = c
	}
	t.head = c
	if t.tail == nil {
		t.tail = c
	}
}

func (t *table) unlink(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else if t.head == c {
		t.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else if t.tail == c {
		t.tail = c.prev
	}
	c.prev, c.next = nil, nil
}
