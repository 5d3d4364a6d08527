package capture

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Secrets the byte streams below carry; no verdict may quote them.
const (
	secretPassword = "hunter2-s3cret"
	secretToken    = "tok-9f8e7d6c5b4a"
)

func pgMessage(typ byte, body string) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func pgStartup(params ...string) []byte {
	body := []byte{0, 3, 0, 0}
	for _, p := range params {
		body = append(append(body, p...), 0)
	}
	body = append(body, 0)
	return append(binary.BigEndian.AppendUint32(nil, uint32(4+len(body))), body...)
}

func pgCode(code uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), code)
}

func pgAuth(code uint32) []byte {
	return pgMessage('R', string(binary.BigEndian.AppendUint32(nil, code)))
}

func mysqlPkt(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func mysqlGreeting() []byte {
	p := append([]byte{10}, "8.0.36\x00"...)
	p = append(p, 1, 0, 0, 0)             // connection id
	p = append(p, "abcdefgh\x00"...)      // auth data 1, filler
	p = append(p, 0xff, 0xff, 0x21, 2, 0) // capabilities (with CLIENT_SSL), charset, status
	return mysqlPkt(0, append(p, make([]byte, 13)...))
}

func mysqlResponse(ssl bool) []byte {
	caps := uint32(mysqlClient41)
	if ssl {
		caps |= mysqlClientSSL
	}
	p := binary.LittleEndian.AppendUint32(nil, caps)
	p = append(p, 0, 0, 0, 1, 33)
	p = append(p, make([]byte, 23)...)
	if ssl {
		return mysqlPkt(1, p)
	}
	p = append(p, "app\x00"...)
	p = append(p, 20)
	p = append(p, secretPassword+"abcdef"...)
	return mysqlPkt(1, p)
}

func resp(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

// h2Request is what an HTTP/2 client with prior knowledge sends first.
func h2Request(t *testing.T, headers ...string) []byte {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := 0; i+1 < len(headers); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: headers[i], Value: headers[i+1]})
	}
	var out bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestClassifyProtocols(t *testing.T) {
	tc, ts := recordTLS(t, &tls.Config{Certificates: []tls.Certificate{selfSigned(t, false)}}, &tls.Config{InsecureSkipVerify: true}, "q")
	random := make([]byte, 600)
	rand.Read(random)
	cat := func(b ...[]byte) []byte { return bytes.Join(b, nil) }
	cases := []struct {
		name      string
		c, s      []byte
		port      uint16
		protocol  string
		encrypted bool
		upgrade   string
		cleartext bool
		sample    string // a substring of the sample
	}{
		{name: "HTTP/1.1 with credentials", port: 8080, protocol: ProtoHTTP1, cleartext: true,
			c: []byte("GET /orders?id=7&access_token=" + secretToken + " HTTP/1.1\r\nHost: payments\r\nAuthorization: Bearer " + secretToken +
				"\r\nCookie: session=" + secretToken + "\r\nAccept: */*\r\n\r\n"),
			s: []byte("HTTP/1.1 200 OK\r\nSet-Cookie: s=" + secretToken + "\r\n\r\n"), sample: "Authorization: Bearer <redacted>"},
		{name: "HTTP/1.1 without credentials", port: 80, protocol: ProtoHTTP1,
			c: []byte("POST /pay HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\n\r\n{}"), sample: "POST /pay HTTP/1.1"},
		{name: "HTTP/2 prior knowledge", port: 8080, protocol: ProtoHTTP2, cleartext: true,
			c:      h2Request(t, ":method", "GET", ":path", "/cart", ":scheme", "http", ":authority", "cart", "authorization", "Basic "+secretToken),
			sample: ":path /cart"},
		{name: "PostgreSQL plaintext", port: 5432, protocol: ProtoPostgres, cleartext: true,
			c: cat(pgStartup("user", "app", "database", "shop"), pgMessage('p', secretPassword+"\x00"), pgMessage('Q', "select 1\x00")),
			s: pgAuth(pgAuthCleartext), sample: "StartupMessage user=app database=shop; PasswordMessage <redacted>"},
		{name: "PostgreSQL SSLRequest then TLS", port: 5432, protocol: ProtoPostgres, encrypted: true, upgrade: "SSLRequest",
			c: cat(pgCode(pgSSLRequest), tc), s: cat([]byte("S"), ts)},
		{name: "PostgreSQL SSLRequest refused", port: 5432, protocol: ProtoPostgres, upgrade: "",
			c: cat(pgCode(pgSSLRequest), pgStartup("user", "app"), pgMessage('Q', "select 2\x00")), s: []byte("N"), sample: "Query"},
		{name: "MySQL plaintext", port: 3306, protocol: ProtoMySQL, c: mysqlResponse(false), s: mysqlGreeting(), sample: "user=app auth=<redacted>"},
		{name: "MySQL SSL", port: 3306, protocol: ProtoMySQL, encrypted: true, upgrade: "SSL",
			c: cat(mysqlResponse(true), tc), s: cat(mysqlGreeting(), ts)},
		{name: "Redis with AUTH", port: 6379, protocol: ProtoRedis, cleartext: true,
			c: []byte(resp("AUTH", secretPassword) + resp("SET", "cart:7", secretToken)), s: []byte("+OK\r\n+OK\r\n"), sample: "AUTH <redacted>; SET cart:7 <1 more>"},
		{name: "Redis inline", port: 6379, protocol: ProtoRedis, c: []byte("PING\r\n"), s: []byte("+PONG\r\n"), sample: "PING"},
		{name: "SMTP with AUTH PLAIN", port: 25, protocol: ProtoSMTP, cleartext: true,
			c: []byte("EHLO client\r\nAUTH PLAIN " + secretToken + "\r\nMAIL FROM:<a@b>\r\n"), s: []byte("220 mail.test ESMTP\r\n250 ok\r\n"),
			sample: "AUTH PLAIN <redacted>"},
		{name: "SMTP STARTTLS", port: 587, protocol: ProtoSMTP, encrypted: true, upgrade: "STARTTLS",
			c: cat([]byte("EHLO client\r\nSTARTTLS\r\n"), tc), s: cat([]byte("220 mail.test ESMTP\r\n250-mail.test\r\n250 STARTTLS\r\n220 go ahead\r\n"), ts)},
		{name: "SSH", port: 22, protocol: ProtoSSH, encrypted: true,
			c: []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), s: append([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), random...)},
		{name: "DNS over TCP", port: 53, protocol: ProtoDNS,
			c: []byte("\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"), sample: "query A example.com"},
		{name: "text protocol", port: 7000, protocol: ProtoText, cleartext: true,
			c: []byte("LOGIN user=app password=" + secretPassword + "\nFETCH 1\n"), sample: "password=<redacted>"},
		{name: "random bytes", port: 7000, protocol: ProtoOpaque, c: random, s: random[:300]},
		{name: "nothing", port: 7000, protocol: ProtoNone},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			v, done := classify(tt.c, tt.s, &connInfo{serverPort: tt.port, handshake: true}, true)
			if !done {
				t.Fatal("not decided at the end of the connection")
			}
			if v.Protocol != tt.protocol || v.Encrypted != tt.encrypted || v.Upgrade != tt.upgrade || v.Cleartext != tt.cleartext {
				t.Errorf("verdict %+v\nwant protocol %s encrypted %v upgrade %q credentials %v", v, tt.protocol, tt.encrypted, tt.upgrade, tt.cleartext)
			}
			if !strings.Contains(v.Sample, tt.sample) {
				t.Errorf("sample %q lacks %q", v.Sample, tt.sample)
			}
			if tt.encrypted && v.Sample != "" {
				t.Errorf("an encrypted connection has a sample: %q", v.Sample)
			}
			js, _ := json.Marshal(v)
			for _, secret := range []string{secretPassword, secretToken} {
				if bytes.Contains(js, []byte(secret)) {
					t.Errorf("verdict quotes the secret %q: %s", secret, js)
				}
			}
		})
	}
}
