package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/hopseal/hopseal/internal/sniff"
)

// Detectors of line- and frame-based protocols: SSH, HTTP/1.x, HTTP/2,
// SMTP and DNS over TCP.

const (
	maxBanner  = 255
	sampleSize = 240
)

func detectSSH(c, s []byte, _ *connInfo) (Verdict, state) {
	const prefix = "SSH-"
	best := notThis
	for _, b := range [][]byte{s, c} {
		n := min(len(b), len(prefix))
		if n == 0 || string(b[:n]) != prefix[:n] {
			continue
		}
		line, ok := firstLine(b, maxBanner)
		if !ok {
			best = maybe
			continue
		}
		v := Verdict{Protocol: ProtoSSH, Encrypted: true, Banner: printable(line, maxBanner)}
		if strings.HasPrefix(v.Banner, "SSH-1.") && !strings.HasPrefix(v.Banner, "SSH-1.99") {
			v.Notes = append(v.Notes, "SSH protocol 1 is broken: use SSH 2")
		}
		return v, yesDone
	}
	return Verdict{}, best
}

// firstLine returns b's first line without its line end, if it has one
// within limit bytes.
func firstLine(b []byte, limit int) ([]byte, bool) {
	i := bytes.IndexByte(b[:min(len(b), limit+2)], '\n')
	if i < 0 {
		return nil, false
	}
	return bytes.TrimRight(b[:i], "\r"), true
}

func detectHTTP1(c, s []byte, _ *connInfo) (Verdict, state) {
	r, more := sniff.Classify(c)
	head := c
	switch {
	case r.Protocol == sniff.HTTP1 && !more: // more: it may yet be HTTP/2's preface
	case len(c) == 0 && bytes.HasPrefix(s, []byte("HTTP/1.")):
		head = s // the capture holds only the answers
	case more && len(c) > 0 && c[0] != 22:
		return Verdict{}, maybe
	default:
		return Verdict{}, notThis
	}
	v := Verdict{Protocol: ProtoHTTP1}
	v.Sample, v.Cleartext = redactHTTP(head)
	if bytes.Contains(head, []byte("\r\n\r\n")) || len(head) >= 2048 {
		return v, yesDone
	}
	return v, yesMore
}

func detectHTTP2(c, _ []byte, _ *connInfo) (Verdict, state) {
	p := sniff.HTTP2Preface
	n := min(len(c), len(p))
	if n == 0 || string(c[:n]) != p[:n] {
		return Verdict{}, notThis
	}
	if n < len(p) {
		return Verdict{}, maybe
	}
	v := Verdict{Protocol: ProtoHTTP2}
	fields, found := h2Headers(c[len(p):])
	v.Sample, v.Cleartext = redactH2(fields)
	if found || len(c) >= 4096 {
		return v, yesDone
	}
	return v, yesMore
}

func detectSMTP(c, s []byte, info *connInfo) (Verdict, state) {
	if len(s) > 0 && !bytes.HasPrefix(s, []byte("220"[:min(3, len(s))])) {
		return Verdict{}, notThis
	}
	banner, ok := firstLine(s, 512)
	if !ok || len(banner) < 4 || banner[3] != ' ' && banner[3] != '-' {
		if len(s) < 512 && len(c) == 0 {
			return Verdict{}, maybe
		}
		return Verdict{}, notThis
	}
	hello, ok := firstLine(c, 512)
	if !ok {
		return Verdict{}, maybe
	}
	cmd := strings.ToUpper(string(hello[:min(4, len(hello))]))
	if cmd != "EHLO" && cmd != "HELO" && cmd != "LHLO" {
		return Verdict{}, notThis
	}
	v := Verdict{Protocol: ProtoSMTP, Banner: printable(banner[4:], 120)}
	if ct, st, ok := startTLS(c, s); ok {
		tv, tst := tlsVerdict(c[ct:], s[st:], info)
		if tst != notThis {
			tv.Protocol, tv.Upgrade, tv.Banner = ProtoSMTP, "STARTTLS", v.Banner
			return tv, tst
		}
	}
	v.Sample, v.Cleartext = redactSMTP(c)
	if bytes.Contains(bytes.ToUpper(c), []byte("\nSTARTTLS")) {
		return v, yesMore // the TLS handshake may follow
	}
	upper := bytes.ToUpper(c)
	for _, done := range []string{"\nMAIL FROM", "\nAUTH ", "\nDATA", "\nQUIT"} {
		if bytes.Contains(upper, []byte(done)) {
			return v, yesDone
		}
	}
	return v, yesMore
}

// startTLS finds where TLS starts after a STARTTLS exchange in each direction.
func startTLS(c, s []byte) (ct, st int, ok bool) {
	i := bytes.Index(bytes.ToUpper(c), []byte("STARTTLS\r\n\x16"))
	j := bytes.Index(s, []byte("\r\n\x16\x03"))
	if i < 0 || j < 0 {
		return 0, 0, false
	}
	return i + len("STARTTLS\r\n"), j + 2, true
}

var dnsTypes = map[uint16]string{1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 65: "HTTPS", 252: "AXFR", 255: "ANY"}

func detectDNS(c, _ []byte, info *connInfo) (Verdict, state) {
	port53 := info.serverPort == 53
	if len(c) < 2+12 {
		if port53 && len(c) > 0 {
			return Verdict{}, maybe
		}
		return Verdict{}, notThis
	}
	n := int(binary.BigEndian.Uint16(c))
	if n < 12 {
		return Verdict{}, notThis
	}
	msg := c[2:min(len(c), 2+n)]
	flags := binary.BigEndian.Uint16(msg[2:])
	opcode := flags >> 11 & 0xf
	qd := binary.BigEndian.Uint16(msg[4:])
	if flags&0x8000 != 0 || (opcode != 0 && opcode != 4 && opcode != 5) || qd == 0 {
		return Verdict{}, notThis
	}
	name, qtype, qclass, ok := dnsQuestion(msg[12:])
	if !ok || (qclass != 1 && qclass != 3 && qclass != 255) {
		if !ok && port53 && len(msg) < n {
			return Verdict{}, maybe
		}
		return Verdict{}, notThis
	}
	typ, known := dnsTypes[qtype]
	if !known {
		typ = fmt.Sprintf("TYPE%d", qtype)
	}
	return Verdict{Protocol: ProtoDNS, Sample: "query " + typ + " " + name}, yesDone
}

// dnsQuestion parses a question's name (no compression), type and class.
func dnsQuestion(b []byte) (name string, qtype, qclass uint16, ok bool) {
	var labels []string
	i, total := 0, 0
	for {
		if i >= len(b) {
			return "", 0, 0, false
		}
		l := int(b[i])
		if l == 0 {
			i++
			break
		}
		total += l + 1
		if l > 63 || total > 255 || i+1+l > len(b) {
			return "", 0, 0, false
		}
		labels = append(labels, printable(b[i+1:i+1+l], 63))
		i += 1 + l
	}
	if i+4 > len(b) {
		return "", 0, 0, false
	}
	name = strings.Join(labels, ".")
	if name == "" {
		name = "."
	}
	return name, binary.BigEndian.Uint16(b[i:]), binary.BigEndian.Uint16(b[i+2:]), true
}
