package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Filter selects packets with a small subset of tcpdump's language,
// evaluated on decoded packets (files and live captures alike):
//
//	expr    = and { ("or" | "||") and }
//	and     = unary { ("and" | "&&") unary }
//	unary   = ("not" | "!") unary | "(" expr ")" | prim
//	prim    = proto | [proto] [dir] kind value
//	proto   = "tcp" | "udp" | "ip" | "ip6"
//	dir     = "src" | "dst"              (default: either)
//	kind    = "host" ADDRESS | "net" CIDR | "port" NUMBER | "portrange" NUMBER-NUMBER
//
// "tcp port 443" means "tcp and port 443". Unlike tcpdump, a qualifier is
// never implied: write "port 80 or port 443", not "port 80 or 443".
type Filter struct {
	text  string
	match func(*packet) bool
}

// String is the filter's text.
func (f *Filter) String() string { return f.text }

func (f *Filter) matches(p *packet) bool { return f == nil || f.match(p) }

// FilterError names the token a filter fails at and how to fix it.
type FilterError struct {
	Filter string
	Column int    // 1-based byte column of Token
	Token  string // "" at the end of the filter
	Msg    string
}

func (e *FilterError) Error() string {
	at := "at the end"
	if e.Token != "" {
		at = fmt.Sprintf("at %q (column %d)", e.Token, e.Column)
	}
	return fmt.Sprintf("filter %q: %s: %s (example: \"tcp port 443 and not host 10.0.0.1\")", e.Filter, at, e.Msg)
}

// ParseFilter compiles a filter; "" selects every packet (nil Filter).
func ParseFilter(text string) (*Filter, error) {
	if len(text) > maxFilter {
		return nil, &FilterError{Filter: text[:32] + "…", Msg: fmt.Sprintf("the filter is over %d bytes", maxFilter)}
	}
	toks := lex(text)
	if len(toks) == 0 {
		return nil, nil
	}
	p := &filterParser{text: text, toks: toks}
	m, err := p.expr()
	if err == nil && p.i < len(p.toks) {
		err = p.fail("expected \"and\", \"or\" or the end")
	}
	if err != nil {
		return nil, err
	}
	return &Filter{text: text, match: m}, nil
}

// maxFilter bounds a filter's text (and so the parser's recursion).
const maxFilter = 4096

type token struct {
	s   string
	col int
}

// lex splits on spaces, and around parentheses, "!", "&&" and "||".
func lex(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')' || c == '!':
			out = append(out, token{s[i : i+1], i + 1})
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||"):
			out = append(out, token{s[i : i+2], i + 1})
			i += 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()!&|", rune(s[j])) {
				j++
			}
			if j == i { // a lone '&' or '|'
				j++
			}
			out = append(out, token{s[i:j], i + 1})
			i = j
		}
	}
	return out
}

type filterParser struct {
	text string
	toks []token
	i    int
}

type matcher = func(*packet) bool

func (p *filterParser) peek() string {
	if p.i < len(p.toks) {
		return strings.ToLower(p.toks[p.i].s)
	}
	return ""
}

func (p *filterParser) fail(msg string) error {
	e := &FilterError{Filter: p.text, Msg: msg}
	if p.i < len(p.toks) {
		e.Token, e.Column = p.toks[p.i].s, p.toks[p.i].col
	}
	return e
}

func (p *filterParser) expr() (matcher, error) {
	left, err := p.and()
	for err == nil && (p.peek() == "or" || p.peek() == "||") {
		p.i++
		var right matcher
		if right, err = p.and(); err == nil {
			l := left
			left = func(k *packet) bool { return l(k) || right(k) }
		}
	}
	return left, err
}

func (p *filterParser) and() (matcher, error) {
	left, err := p.unary()
	for err == nil && (p.peek() == "and" || p.peek() == "&&") {
		p.i++
		var right matcher
		if right, err = p.unary(); err == nil {
			l := left
			left = func(k *packet) bool { return l(k) && right(k) }
		}
	}
	return left, err
}

func (p *filterParser) unary() (matcher, error) {
	switch p.peek() {
	case "not", "!":
		p.i++
		m, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(k *packet) bool { return !m(k) }, nil
	case "(":
		p.i++
		m, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, p.fail("expected \")\" to close the \"(\"")
		}
		p.i++
		return m, nil
	}
	return p.prim()
}

var protoMatchers = map[string]matcher{
	"tcp": func(k *packet) bool { return k.proto == protoTCP },
	"udp": func(k *packet) bool { return k.proto == protoUDP },
	"ip":  func(k *packet) bool { return k.src.Is4() },
	"ip6": func(k *packet) bool { return k.src.Is6() },
}

func (p *filterParser) prim() (matcher, error) {
	proto := protoMatchers[p.peek()]
	if proto != nil {
		p.i++
		switch p.peek() {
		case "src", "dst", "host", "net", "port", "portrange":
		default:
			return proto, nil
		}
	}
	m, err := p.qualified()
	if err != nil || proto == nil {
		return m, err
	}
	return func(k *packet) bool { return proto(k) && m(k) }, nil
}

// qualified parses [dir] kind value.
func (p *filterParser) qualified() (matcher, error) {
	src, dst := true, true
	switch p.peek() {
	case "src":
		dst = false
		p.i++
	case "dst":
		src = false
		p.i++
	}
	kind := p.peek()
	switch kind {
	case "host", "net", "port", "portrange":
	case "":
		return nil, p.fail("expected host, net, port, portrange, tcp, udp, ip or ip6")
	default:
		if _, err := strconv.Atoi(kind); err == nil || strings.ContainsAny(kind, ".:") {
			return nil, p.fail("a value needs its qualifier: write \"host " + kind + "\" or \"port " + kind + "\"")
		}
		return nil, p.fail("expected host, net, port, portrange, tcp, udp, ip, ip6, src, dst, not or \"(\"")
	}
	p.i++
	if p.peek() == "" {
		return nil, p.fail("\"" + kind + "\" needs a value")
	}
	m, err := p.value(kind)
	if err != nil {
		return nil, err
	}
	p.i++
	return func(k *packet) bool { return (src && m(k, true)) || (dst && m(k, false)) }, nil
}

// value parses the value of kind; the matcher tests the source end, or
// the destination end.
func (p *filterParser) value(kind string) (func(*packet, bool) bool, error) {
	v := p.toks[p.i].s
	switch kind {
	case "host":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, p.fail("not an IP address (host names are not looked up)")
		}
		a = a.Unmap()
		return func(k *packet, src bool) bool { return end(k, src) == a }, nil
	case "net":
		n, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, p.fail("not a network: write it as ADDRESS/BITS, e.g. 10.0.0.0/8")
			}
			n = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		n = n.Masked()
		return func(k *packet, src bool) bool { return n.Contains(end(k, src)) }, nil
	case "port":
		port, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, p.fail("not a port number (0-65535; service names are not looked up)")
		}
		return func(k *packet, src bool) bool { return k.proto != 0 && endPort(k, src) == uint16(port) }, nil
	}
	lo, hi, ok := strings.Cut(v, "-")
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if !ok || err1 != nil || err2 != nil || a > b {
		return nil, p.fail("not a port range: write LOW-HIGH, e.g. 8000-8100")
	}
	return func(k *packet, src bool) bool {
		port := endPort(k, src)
		return k.proto != 0 && uint64(port) >= a && uint64(port) <= b
	}, nil
}

func end(k *packet, src bool) netip.Addr {
	if src {
		return k.src
	}
	return k.dst
}

func endPort(k *packet, src bool) uint16 {
	if src {
		return k.sport
	}
	return k.dport
}
