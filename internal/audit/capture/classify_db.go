package capture

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
)

// Detectors of database protocols: PostgreSQL, MySQL and Redis.

const (
	pgSSLRequest    = 80877103
	pgGSSENCRequest = 80877104
	pgCancelRequest = 80877102
	pgProtocol3     = 3 << 16
	pgMaxStartup    = 10000
	pgAuthCleartext = 3
	pgAuthMD5       = 5
)

func detectPostgres(c, s []byte, info *connInfo) (Verdict, state) {
	if len(c) < 8 {
		if len(c) > 0 && c[0] == 0 {
			return Verdict{}, maybe
		}
		return Verdict{}, notThis
	}
	n, code := int(binary.BigEndian.Uint32(c)), binary.BigEndian.Uint32(c[4:])
	switch {
	case n == 8 && (code == pgSSLRequest || code == pgGSSENCRequest):
		return pgEncryptionRequest(c, s, code, info)
	case n == 16 && code == pgCancelRequest:
		return Verdict{Protocol: ProtoPostgres, Sample: "CancelRequest"}, yesDone
	case n >= 8 && n <= pgMaxStartup && code == pgProtocol3:
		return pgPlaintext(c, s)
	}
	return Verdict{}, notThis
}

// pgEncryptionRequest follows an SSLRequest or GSSENCRequest: the server
// answers one byte, 'S' (TLS follows), 'G' (GSSAPI follows) or 'N' (no).
func pgEncryptionRequest(c, s []byte, code uint32, info *connInfo) (Verdict, state) {
	what := "SSLRequest"
	if code == pgGSSENCRequest {
		what = "GSSENCRequest"
	}
	v := Verdict{Protocol: ProtoPostgres, Upgrade: what}
	if len(s) == 0 {
		return v, yesMore
	}
	switch s[0] {
	case 'S':
		tv, st := tlsVerdict(c[8:], s[1:], info)
		if st == notThis {
			v.Notes = append(v.Notes, "the server accepted "+what+" but no TLS handshake followed")
			return v, yesDone
		}
		tv.Protocol, tv.Upgrade = ProtoPostgres, what
		return tv, st
	case 'G':
		v.Encrypted = true
		v.Notes = append(v.Notes, "GSSAPI encryption: its strength depends on the Kerberos setup")
		return v, yesDone
	case 'N':
		if len(c) == 8 {
			return v, yesMore
		}
		pv, st := detectPostgres(c[8:], s[1:], info)
		if st == notThis {
			return v, yesDone
		}
		pv.Notes = append(pv.Notes, "the server refused "+what+": the session continued in plaintext")
		return pv, st
	}
	v.Notes = append(v.Notes, "unexpected answer to "+what)
	return v, yesDone
}

// pgPlaintext describes a plaintext session from its StartupMessage on.
func pgPlaintext(c, s []byte) (Verdict, state) {
	n := int(binary.BigEndian.Uint32(c))
	v := Verdict{Protocol: ProtoPostgres}
	if len(c) < n {
		v.Sample = "StartupMessage"
		return v, yesMore
	}
	var parts []string
	params := bytes.Split(bytes.TrimRight(c[8:n], "\x00"), []byte{0})
	var kv []string
	for i := 0; i+1 < len(params); i += 2 {
		if k := string(params[i]); k == "user" || k == "database" || k == "application_name" {
			kv = append(kv, k+"="+printable(params[i+1], 40))
		}
	}
	parts = append(parts, strings.TrimSpace("StartupMessage "+strings.Join(kv, " ")))
	authCode := pgAuthRequest(s)
	done := false
	for rest := c[n:]; len(rest) >= 5; {
		typ, l := rest[0], int(binary.BigEndian.Uint32(rest[1:]))
		if l < 4 || len(rest) < 1+l {
			break
		}
		body := rest[5 : 1+l]
		switch typ {
		case 'p':
			parts = append(parts, "PasswordMessage <redacted>")
			v.Cleartext = v.Cleartext || authCode == pgAuthCleartext
		case 'Q':
			parts = append(parts, "Query "+strconv.Quote(printable(bytes.TrimRight(body, "\x00"), 80)))
			done = true
		case 'P':
			parts = append(parts, "Parse")
			done = true
		}
		rest = rest[1+l:]
	}
	switch authCode {
	case pgAuthCleartext:
		v.Notes = append(v.Notes, "the server asked for the password in clear text")
	case pgAuthMD5:
		v.Notes = append(v.Notes, "the server asked for an MD5 password hash, which an eavesdropper can replay or crack")
	}
	v.Sample = redactText([]byte(strings.Join(parts, "; ")), sampleSize)
	if done || len(c) >= 2048 {
		return v, yesDone
	}
	return v, yesMore
}

// pgAuthRequest returns the code of the server's first authentication
// request ('R'), or -1.
func pgAuthRequest(s []byte) int {
	if len(s) >= 9 && s[0] == 'R' {
		return int(binary.BigEndian.Uint32(s[5:]))
	}
	return -1
}

const (
	mysqlProtocol10 = 10
	mysqlClientSSL  = 0x0800
	mysqlClient41   = 0x0200
)

func detectMySQL(c, s []byte, info *connInfo) (Verdict, state) {
	greet, ok := mysqlPacket(s, 0)
	if !ok {
		if len(s) < 5 && len(c) == 0 && len(s) > 0 {
			return Verdict{}, maybe
		}
		return Verdict{}, notThis
	}
	if len(greet) < 2 || greet[0] != mysqlProtocol10 {
		return Verdict{}, notThis
	}
	end := bytes.IndexByte(greet[1:], 0)
	if end < 1 || end > 64 || printable(greet[1:1+end], 64) != string(greet[1:1+end]) {
		return Verdict{}, notThis
	}
	v := Verdict{Protocol: ProtoMySQL, Banner: string(greet[1 : 1+end])}
	resp, ok := mysqlPacket(c, 1)
	if !ok {
		return v, yesMore
	}
	if len(resp) < 32 {
		return Verdict{}, notThis
	}
	caps := binary.LittleEndian.Uint32(resp)
	if caps&mysqlClientSSL != 0 && len(resp) == 32 {
		tv, st := tlsVerdict(c[4+32:], s[4+len(greet):], info)
		if st == notThis {
			v.Upgrade = "SSL"
			return v, yesMore
		}
		tv.Protocol, tv.Upgrade, tv.Banner = ProtoMySQL, "SSL", v.Banner
		return tv, st
	}
	user := resp[32:]
	if i := bytes.IndexByte(user, 0); i >= 0 {
		user = user[:i]
	}
	v.Sample = "HandshakeResponse user=" + printable(user, 40) + " auth=<redacted>"
	v.Cleartext = bytes.Contains(resp, []byte("mysql_clear_password"))
	return v, yesDone
}

// mysqlPacket returns the payload of a whole MySQL packet with sequence
// number seq at the start of b.
func mysqlPacket(b []byte, seq byte) ([]byte, bool) {
	if len(b) < 4 || b[3] != seq {
		return nil, false
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if n == 0 || n > 1<<14 || len(b) < 4+n {
		return nil, false
	}
	return b[4 : 4+n], true
}

func detectRedis(c, s []byte, info *connInfo) (Verdict, state) {
	if len(c) == 0 || c[0] != '*' {
		// Inline commands ("PING\r\n") on Redis's port, answered in RESP.
		line, ok := firstLine(c, 512)
		if info.serverPort == 6379 && ok && len(line) > 0 && printable(line, 512) == string(line) &&
			len(s) > 0 && bytes.IndexByte([]byte("+-:$*%_"), s[0]) >= 0 {
			return Verdict{Protocol: ProtoRedis, Sample: redisSample([][][]byte{bytes.Fields(line)})}, yesDone
		}
		return Verdict{}, notThis
	}
	cmds, _, bad := respCommands(c, 4)
	if bad {
		return Verdict{}, notThis
	}
	if len(cmds) == 0 {
		return Verdict{}, maybe
	}
	v := Verdict{Protocol: ProtoRedis, Sample: redisSample(cmds)}
	for _, cmd := range cmds {
		name := strings.ToUpper(string(cmd[0]))
		v.Cleartext = v.Cleartext || name == "AUTH" || name == "HELLO" && len(cmd) > 2
	}
	if len(cmds) >= 4 || len(c) >= 2048 {
		return v, yesDone
	}
	return v, yesMore
}

// RESP parse outcomes.
const (
	respOK    = iota
	respShort // b ends first
	respBad   // b cannot be RESP
)

// respCommands parses up to max RESP arrays of bulk strings from b's
// start; bad is true when the first cannot be one.
func respCommands(b []byte, max int) (cmds [][][]byte, rest []byte, bad bool) {
	for len(b) > 0 && len(cmds) < max {
		cmd, next, st := respCommand(b)
		if st != respOK {
			return cmds, b, st == respBad && len(cmds) == 0
		}
		cmds, b = append(cmds, cmd), next
	}
	return cmds, b, false
}

func respCommand(b []byte) (cmd [][]byte, next []byte, st int) {
	n, b, st := respLen(b, '*')
	if st != respOK {
		return nil, nil, st
	}
	if n < 1 || n > 1024 {
		return nil, nil, respBad
	}
	for range n {
		l, rest, st := respLen(b, '$')
		switch {
		case st != respOK:
			return nil, nil, st
		case l < 0 || l > 1<<20:
			return nil, nil, respBad
		case len(rest) < l+2:
			return nil, nil, respShort
		}
		cmd, b = append(cmd, rest[:l]), rest[l+2:]
	}
	return cmd, b, respOK
}

// respLen reads "<prefix><digits>\r\n".
func respLen(b []byte, prefix byte) (n int, rest []byte, st int) {
	if len(b) == 0 {
		return 0, nil, respShort
	}
	if b[0] != prefix {
		return 0, nil, respBad
	}
	i := bytes.Index(b[:min(len(b), 16)], []byte("\r\n"))
	if i < 0 {
		if len(b) >= 16 {
			return 0, nil, respBad
		}
		return 0, nil, respShort
	}
	v, err := strconv.Atoi(string(b[1:i]))
	if err != nil {
		return 0, nil, respBad
	}
	return v, b[i+2:], respOK
}
