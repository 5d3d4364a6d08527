package capture

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// Samples quote plaintext so an auditor sees what leaks, never the
// credentials themselves: those are replaced by <redacted>.

const redacted = "<redacted>"

// printable renders b as text of at most limit bytes: CR LF pairs become
// "\n", other control and non-ASCII bytes ".".
func printable(b []byte, limit int) string {
	var s strings.Builder
	for i := 0; i < len(b) && s.Len() < limit; i++ {
		switch c := b[i]; {
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
		case c == '\n' || c == '\t' || c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			s.WriteByte('.')
		}
	}
	out := s.String()
	if s.Len() >= limit && len(b) > limit {
		out += "…"
	}
	return out
}

var (
	// secretAssign matches "password=x", "token: x", "api_key=x" in any text.
	secretAssign = regexp.MustCompile(`(?i)((?:pass(?:word|wd)?|secret|token|api[_-]?key|credentials?)["']?\s*[=:]\s*["']?)([^\s&;,"'<>]+)`)
	// secretCommand matches line protocols' login commands: "PASS x", "AUTH PLAIN x".
	secretCommand = regexp.MustCompile(`(?im)^((?:PASS|AUTH(?: [A-Z0-9-]+)?)[ \t]+)(\S+)`)
)

// redactText masks credentials in text and renders it with printable.
func redactText(b []byte, limit int) string {
	s, _ := redactSecrets(printable(b, max(limit*4, 1024)))
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// redactSecrets masks credentials in s and reports whether it found any.
func redactSecrets(s string) (string, bool) {
	found := false
	mask := func(re *regexp.Regexp, s string) string {
		return re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			if sub[2] == redacted {
				return m
			}
			found = true
			return sub[1] + redacted
		})
	}
	s = mask(secretCommand, mask(secretAssign, s))
	return s, found
}

// sensitiveHeader reports whether an HTTP header carries credentials.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key":
		return true
	}
	for _, w := range []string{"token", "secret", "password", "apikey", "api-key", "session"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// sensitiveParam reports whether a query parameter carries credentials.
func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"pass", "secret", "token", "key", "auth", "session", "sig"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactHTTP quotes an HTTP/1.x message head with credentials masked: the
// values of credential headers (an Authorization scheme is kept) and of
// credential-like query parameters. The body is left out.
func redactHTTP(b []byte) (string, bool) {
	head := b
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		head = b[:i]
	}
	lines := strings.Split(printable(head[:min(len(head), 4096)], 4096), "\n")
	found := false
	for i, line := range lines {
		if i == 0 {
			lines[0], found = redactRequestLine(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !sensitiveHeader(name) {
			continue
		}
		found = true
		value = strings.TrimSpace(value)
		scheme, _, hasScheme := strings.Cut(value, " ")
		if hasScheme && strings.HasSuffix(strings.ToLower(name), "authorization") {
			lines[i] = name + ": " + scheme + " " + redacted
		} else {
			lines[i] = name + ": " + redacted
		}
	}
	s, more := redactSecrets(strings.Join(lines, "\n"))
	if len(b) > len(head)+4 {
		s += "\n[body not shown]"
	}
	return clip(s, sampleSize), found || more
}

// redactRequestLine masks credential-like query parameters of a request line.
func redactRequestLine(line string) (string, bool) {
	method, rest, ok := strings.Cut(line, " ")
	if !ok {
		return line, false
	}
	target, version, _ := strings.Cut(rest, " ")
	path, query, ok := strings.Cut(target, "?")
	if !ok {
		return line, false
	}
	found := false
	params := strings.Split(query, "&")
	for i, p := range params {
		k, _, ok := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); ok && err == nil && sensitiveParam(name) {
			params[i], found = k+"="+redacted, true
		}
	}
	return strings.TrimSpace(method + " " + path + "?" + strings.Join(params, "&") + " " + version), found
}

func clip(s string, limit int) string {
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

// h2Headers decodes the first HEADERS frame after the HTTP/2 preface.
func h2Headers(b []byte) (fields []hpack.HeaderField, found bool) {
	for len(b) >= 9 {
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		typ, flags := b[3], b[4]
		if len(b) < 9+n {
			return nil, false
		}
		frame := b[9 : 9+n]
		b = b[9+n:]
		if typ != 1 { // HEADERS
			continue
		}
		if flags&0x8 != 0 && len(frame) > 0 { // PADDED
			pad := int(frame[0])
			frame = frame[1:max(1, len(frame)-pad)]
		}
		if flags&0x20 != 0 && len(frame) >= 5 { // PRIORITY
			frame = frame[5:]
		}
		d := hpack.NewDecoder(4096, func(f hpack.HeaderField) { fields = append(fields, f) })
		d.SetMaxStringLength(4096)
		d.Write(frame) // a cut or bad block leaves the fields decoded before
		return fields, true
	}
	return nil, false
}

// redactH2 quotes a request's pseudo-headers and names its other headers,
// with credential values masked.
func redactH2(fields []hpack.HeaderField) (string, bool) {
	if len(fields) == 0 {
		return "HTTP/2 connection preface", false
	}
	var parts []string
	found := false
	for _, f := range fields {
		switch {
		case strings.HasPrefix(f.Name, ":"):
			parts = append(parts, f.Name+" "+printable([]byte(f.Value), 80))
		case sensitiveHeader(f.Name):
			parts, found = append(parts, f.Name+": "+redacted), true
		default:
			parts = append(parts, f.Name+": "+printable([]byte(f.Value), 40))
		}
	}
	s, more := redactSecrets(strings.Join(parts, "\n"))
	return clip(s, sampleSize), found || more
}

// redactSMTP quotes a client's commands up to DATA or STARTTLS, masking
// AUTH arguments and the lines that answer AUTH LOGIN's prompts.
func redactSMTP(c []byte) (string, bool) {
	lines := strings.Split(printable(c[:min(len(c), 2048)], 2048), "\n")
	var out []string
	found, hide := false, 0
	for _, l := range lines {
		upper := strings.ToUpper(l)
		switch {
		case l == "":
			continue
		case hide > 0:
			out, hide = append(out, redacted), hide-1
			continue
		case strings.HasPrefix(upper, "AUTH LOGIN") && len(strings.Fields(l)) == 2:
			hide, found = 2, true
		case strings.HasPrefix(upper, "AUTH PLAIN") && len(strings.Fields(l)) == 2:
			hide, found = 1, true
		case strings.HasPrefix(upper, "AUTH "):
			found = true
		}
		s, _ := redactSecrets(l)
		out = append(out, s)
		if upper == "DATA" || upper == "STARTTLS" || len(out) >= 8 {
			break
		}
	}
	return clip(strings.Join(out, "\n"), sampleSize), found
}

// redisSample names each command with its first argument (a key, usually);
// values and AUTH's arguments are left out.
func redisSample(cmds [][][]byte) string {
	var parts []string
	for _, cmd := range cmds {
		if len(cmd) == 0 {
			continue
		}
		name := strings.ToUpper(printable(cmd[0], 20))
		switch {
		case name == "AUTH":
			parts = append(parts, "AUTH "+redacted)
		case name == "HELLO" && len(cmd) > 2:
			parts = append(parts, printable(bytes.Join(cmd[:2], []byte(" ")), 20)+" AUTH "+redacted)
		case len(cmd) == 1:
			parts = append(parts, name)
		case len(cmd) == 2:
			parts = append(parts, name+" "+printable(cmd[1], 40))
		default:
			parts = append(parts, fmt.Sprintf("%s %s <%d more>", name, printable(cmd[1], 40), len(cmd)-2))
		}
	}
	return clip(strings.Join(parts, "; "), sampleSize)
}

// entropyNote says how random one direction's first bytes look: high
// entropy suggests encryption or compression, low a structured protocol.
func entropyNote(dir string, b []byte) string {
	b = b[:min(len(b), 4096)]
	switch {
	case len(b) == 0:
		return dir + ": no data"
	case len(b) < 64:
		return fmt.Sprintf("%s: %d bytes, too few to judge", dir, len(b))
	}
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	h := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(b))
			h -= p * math.Log2(p)
		}
	}
	// A uniform source over n bytes shows at most log2(n) bits per byte.
	look := "structured: probably not encrypted"
	if h >= 0.9*math.Min(8, math.Log2(float64(len(b)))) {
		look = "random-looking: encrypted or compressed"
	}
	return fmt.Sprintf("%s: %d bytes, %.1f bits/byte (%s)", dir, len(b), h, look)
}
