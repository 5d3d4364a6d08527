package config

import (
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hopseal/hopseal/internal/yamlfile"
)

// parseDays is time.ParseDuration that also takes whole days ("365d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// checkHostname accepts a DNS name or a leading one-label wildcard
// ("*.example.com"), as a server name in TLS would carry it, and returns it
// in lowercase.
func checkHostname(errs *yamlfile.Problems, at, h string) (string, bool) {
	name := strings.ToLower(h)
	bare := strings.TrimPrefix(name, "*.")
	switch {
	case h == "":
		errs.Add(at, "", "is required; write a server name such as shop.example.com or *.example.com")
	case isIP(h):
		errs.Add(at, h, "is an IP address; clients send server names (SNI), never addresses, so write the name they connect to")
	case strings.HasSuffix(h, "."):
		errs.Add(at, h, "ends with a dot; write %s", strings.TrimSuffix(h, "."))
	case strings.Contains(bare, "*"):
		errs.Add(at, h, "has a wildcard that is not a leading label; only *.example.com is supported (it matches one label)")
	case bare != name && strings.Count(bare, ".") < 1:
		errs.Add(at, h, "is a wildcard over a top-level domain; write at least two labels after *., e.g. *.example.com")
	case !dnsName(bare):
		errs.Add(at, h, "is not a DNS name: use letters, digits, '-' and '_' in dot-separated labels of 1-63 characters")
	default:
		return name, true
	}
	return "", false
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

func dnsName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkPathPrefix wants a canonical absolute path: the gateway matches it
// segment by segment against requests' canonical paths.
func checkPathPrefix(errs *yamlfile.Problems, at, p string) bool {
	switch {
	case p == "":
		errs.Add(at, "", "is required; write / for the default backend, or a path such as /api")
	case !strings.HasPrefix(p, "/"):
		errs.Add(at, p, "does not start with /; write e.g. /%s", p)
	case strings.ContainsAny(p, "?#%\\ ") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x21 || r > 0x7e }):
		errs.Add(at, p, "holds a query, fragment, escape, backslash, space or non-ASCII byte; write a plain path such as /api")
	case p != "/" && (path.Clean(p) != p):
		errs.Add(at, p, "is not a canonical path (no //, . or .. segments and no trailing /); write %s: it matches that path and everything under it", path.Clean(p))
	default:
		return true
	}
	return false
}

func requireFile(errs *yamlfile.Problems, at, v, what string) {
	if v == "" {
		errs.Add(at, "", "is required: %s", what)
	}
}

// uniqueSet reports values used twice, naming where each was first seen.
type uniqueSet map[string]string

func (u uniqueSet) add(errs *yamlfile.Problems, at, kind, v string) {
	if prev, dup := u[v]; dup {
		errs.Add(at, v, "is already used by %s; each %s must be unique", prev, kind)
		return
	}
	u[v] = at
}

// listen records a listen address; port 0 asks for a fresh port each time,
// so it never clashes.
func (u uniqueSet) listen(errs *yamlfile.Problems, at, v string) {
	if _, port, err := net.SplitHostPort(v); err == nil && port != "0" {
		u.add(errs, at, "listen address", v)
	}
}
