package policy

import (
	"errors"
	"strings"
)

// canonicalRequest returns the path rules are matched against, or why the
// request-target is too ambiguous to decide on.
func canonicalRequest(method, target string) (string, error) {
	if target == "*" {
		if method != "OPTIONS" {
			return "", errors.New("target * is only valid with OPTIONS")
		}
		return "*", nil
	}
	return canonicalPath(target)
}

// canonicalPath drops the query, decodes percent-encoded unreserved
// characters, merges `//` and resolves `.` and `..`. It refuses what servers
// read differently (see the package comment) rather than guess.
func canonicalPath(target string) (string, error) {
	for i := 0; i < len(target); i++ {
		switch c := target[i]; {
		case c < 0x20 || c == 0x7f:
			return "", errors.New("control character in the target")
		case c == ' ' || c >= 0x80:
			return "", errors.New("space or non-ASCII byte in the target; it must be percent-encoded")
		case c == '\\':
			return "", errors.New("backslash in the path is ambiguous")
		case c == '#':
			return "", errors.New("fragment (#) in the target is not allowed")
		}
	}
	path, _, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(path, "/") {
		return "", errors.New("path does not start with /")
	}
	decoded, err := decodeUnreserved(path)
	if err != nil {
		return "", err
	}
	return resolveDots(decoded)
}

// decodeUnreserved decodes %XX when XX is an unreserved character (RFC 3986
// 2.3) and upper-cases the hex of every other escape.
func decodeUnreserved(path string) (string, error) {
	if !strings.Contains(path, "%") {
		return path, nil
	}
	var b strings.Builder
	b.Grow(len(path))
	for i := 0; i < len(path); i++ {
		if path[i] != '%' {
			b.WriteByte(path[i])
			continue
		}
		if i+2 >= len(path) || unhex(path[i+1]) < 0 || unhex(path[i+2]) < 0 {
			return "", errors.New("malformed percent-encoding in the path")
		}
		c := byte(unhex(path[i+1])<<4 | unhex(path[i+2]))
		i += 2
		switch {
		case c == '/' || c == '\\':
			return "", errors.New("encoded slash or backslash (%2F, %5C) in the path is ambiguous")
		case c < 0x20 || c == 0x7f:
			return "", errors.New("encoded control character in the path")
		case unreserved(c):
			b.WriteByte(c)
		default:
			const hex = "0123456789ABCDEF"
			b.Write([]byte{'%', hex[c>>4], hex[c&15]})
		}
	}
	return b.String(), nil
}

// resolveDots merges empty segments and resolves dot segments; a trailing
// slash (or a trailing dot segment) is kept as a trailing slash.
func resolveDots(path string) (string, error) {
	segs := strings.Split(path[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) == 0 {
				return "", errors.New("path climbs above the root with ..")
			}
			out = out[:len(out)-1]
		default:
			if dotWithParams(s) {
				return "", errors.New("dot segment with ; parameters in the path is ambiguous")
			}
			out = append(out, s)
		}
		trailing = i == len(segs)-1 && (s == "" || s == "." || s == "..")
	}
	if len(out) == 0 {
		return "/", nil
	}
	canon := "/" + strings.Join(out, "/")
	if trailing {
		canon += "/"
	}
	return canon, nil
}

// dotWithParams reports segments such as "..;x" that some servers strip to
// "..". Escapes are upper-case by now.
func dotWithParams(s string) bool {
	i := strings.IndexByte(s, ';')
	if j := strings.Index(s, "%3B"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	return i >= 0 && (s[:i] == "." || s[:i] == "..")
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
