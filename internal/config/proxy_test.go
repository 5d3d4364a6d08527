package config_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/config"
)

const baseline = `spiffe_id: spiffe://demo.local/ns/shop/sa/server
ca: {address: 127.0.0.1:18443, bundle_file: bundle.pem, join_token_file: server.tok}
admin: {listen: 127.0.0.1:19091}
inbound:
  - name: web
    listen: 127.0.0.1:19006
    forward: 127.0.0.1:19080
    allow: [spiffe://demo.local/ns/shop/sa/client, spiffe://demo.local/ns/shop/sa/admin]
outbound:
  - name: up
    listen: 127.0.0.1:19001
    upstream: 127.0.0.1:19006
    server_id: spiffe://demo.local/ns/shop/sa/server
`

func TestParseProxyBaseline(t *testing.T) {
	p, err := config.ParseProxy([]byte(baseline))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case p.ID.String() != "spiffe://demo.local/ns/shop/sa/server" || p.TrustDomain.Name() != "demo.local":
		t.Errorf("identity %s in %s", p.ID, p.TrustDomain)
	case p.CAAddress != "127.0.0.1:18443" || p.BundleFile != "bundle.pem" || p.JoinTokenFile != "server.tok" || p.AdminListen != "127.0.0.1:19091":
		t.Errorf("CA or admin settings %+v", p)
	case len(p.Inbound) != 1 || p.Inbound[0].Name != "web" || p.Inbound[0].Forward != "127.0.0.1:19080" || len(p.Inbound[0].Allow) != 2:
		t.Errorf("inbound %+v", p.Inbound)
	case p.Inbound[0].Allow[1].String() != "spiffe://demo.local/ns/shop/sa/admin":
		t.Errorf("allow[1] = %s", p.Inbound[0].Allow[1])
	case len(p.Outbound) != 1 || p.Outbound[0].Upstream != "127.0.0.1:19006" || p.Outbound[0].ServerID.String() != "spiffe://demo.local/ns/shop/sa/server":
		t.Errorf("outbound %+v", p.Outbound)
	case p.SVIDTTL != 0:
		t.Errorf("SVIDTTL = %s, want 0 (the CA's default)", p.SVIDTTL)
	}
}

// Each case changes one thing in the baseline: old is replaced by new.
func TestParseProxy(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     []string // all in the error; none for a valid file
	}{
		{name: "unknown key", old: "spiffe_id:", new: "spifee_id: x\nspiffe_id:", want: []string{"spifee_id", "line 1"}},
		{name: "unknown nested key", old: "bundle_file:", new: "bundel_file:", want: []string{"bundel_file", "line 2"}},
		{name: "bad SPIFFE ID in allow", old: "spiffe://demo.local/ns/shop/sa/admin]", new: "spiffe://Demo.local/ns/shop/sa/admin]",
			want: []string{`inbound[0].allow[1]: "spiffe://Demo.local/ns/shop/sa/admin" is not a SPIFFE ID`, "write spiffe://<trust-domain>/<path>"}},
		{name: "trust domain in allow", old: "spiffe://demo.local/ns/shop/sa/admin]", new: "spiffe://demo.local]",
			want: []string{`inbound[0].allow[1]: "spiffe://demo.local" names a whole trust domain`, "spiffe://demo.local/ns/shop/sa/orders"}},
		{name: "bad server_id", old: "server_id: spiffe://demo.local/ns/shop/sa/server", new: "server_id: demo.local/server",
			want: []string{`outbound[0].server_id: "demo.local/server" is not a SPIFFE ID`}},
		{name: "spiffe_id without path", old: "spiffe_id: spiffe://demo.local/ns/shop/sa/server", new: "spiffe_id: spiffe://demo.local",
			want: []string{`spiffe_id: "spiffe://demo.local" has no path`}},
		{name: "address without port", old: "forward: 127.0.0.1:19080", new: "forward: 127.0.0.1",
			want: []string{`inbound[0].forward: "127.0.0.1" is not host:port`, "127.0.0.1:8443"}},
		{name: "dial address without host", old: "upstream: 127.0.0.1:19006", new: "upstream: :19006",
			want: []string{`outbound[0].upstream: ":19006" has no host`}},
		{name: "port out of range", old: "address: 127.0.0.1:18443", new: "address: 127.0.0.1:70000",
			want: []string{`ca.address: "127.0.0.1:70000" has an invalid port "70000"; use 1-65535`}},
		{name: "dial port zero", old: "forward: 127.0.0.1:19080", new: "forward: 127.0.0.1:0", want: []string{`inbound[0].forward: "127.0.0.1:0" has an invalid port`}},
		{name: "listen on all interfaces", old: "listen: 127.0.0.1:19001", new: "listen: :19001"},
		{name: "duplicate listen", old: "listen: 127.0.0.1:19001", new: "listen: 127.0.0.1:19006",
			want: []string{`outbound[0].listen: "127.0.0.1:19006" is already used by inbound[0].listen`}},
		{name: "listen clashes with admin", old: "listen: 127.0.0.1:19001", new: "listen: 127.0.0.1:19091",
			want: []string{`outbound[0].listen: "127.0.0.1:19091" is already used by admin.listen`}},
		{name: "duplicate name", old: "name: up", new: "name: web", want: []string{`outbound[0].name: "web" is already used by inbound[0].name`}},
		{name: "empty allow list", old: "allow: [spiffe://demo.local/ns/shop/sa/client, spiffe://demo.local/ns/shop/sa/admin]", new: "allow: []",
			want: []string{"inbound[0].allow is empty", "list the SPIFFE IDs"}},
		{name: "missing server_id", old: "    server_id: spiffe://demo.local/ns/shop/sa/server\n", new: "",
			want: []string{"outbound[0].server_id is required"}},
		{name: "svid_ttl below 5m", old: "join_token_file: server.tok}", new: "join_token_file: server.tok, svid_ttl: 4m}",
			want: []string{`ca.svid_ttl: "4m" is below the 5m minimum`}},
		{name: "svid_ttl not a duration", old: "join_token_file: server.tok}", new: "join_token_file: server.tok, svid_ttl: 1 day}",
			want: []string{`ca.svid_ttl: "1 day" is not a duration`, "24h"}},
		{name: "svid_ttl valid", old: "join_token_file: server.tok}", new: "join_token_file: server.tok, svid_ttl: 90m}"},
		{name: "trust_domain disagrees", old: "ca:", new: "trust_domain: other.local\nca:",
			want: []string{`trust_domain: "other.local" differs from spiffe_id's trust domain demo.local`}},
		{name: "trust_domain agrees", old: "ca:", new: "trust_domain: demo.local\nca:"},
		{name: "no join token and no data_dir", old: ", join_token_file: server.tok", new: "", want: []string{"ca.join_token_file is required"}},
		{name: "data_dir instead of join token", old: ", join_token_file: server.tok}", new: "}\ndata_dir: ./data"},
		{name: "missing bundle_file", old: " bundle_file: bundle.pem,", new: "", want: []string{"ca.bundle_file is required", "hopseal ca bundle"}},
		{name: "missing CA address", old: "address: 127.0.0.1:18443, ", new: "", want: []string{"ca.address is required"}},
		{name: "allow is not a list", old: "allow: [spiffe://demo.local/ns/shop/sa/client, spiffe://demo.local/ns/shop/sa/admin]", new: "allow: spiffe://demo.local/ns/shop/sa/client",
			want: []string{"line 8", "cannot unmarshal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(baseline, tt.old) {
				t.Fatalf("baseline lacks %q", tt.old)
			}
			p, err := config.ParseProxy([]byte(strings.Replace(baseline, tt.old, tt.new, 1)))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ParseProxy: %v", err)
				}
				if p == nil {
					t.Fatal("nil config without error")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseProxy accepted the file; want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// Port 0 picks a free port at bind time: several listeners may ask for it.
func TestParseProxyPortZero(t *testing.T) {
	data := regexp.MustCompile(`listen: 127\.0\.0\.1:\d+`).ReplaceAllString(baseline, "listen: 127.0.0.1:0")
	if strings.Count(data, "127.0.0.1:0") != 3 {
		t.Fatalf("edit missed a listener:\n%s", data)
	}
	p, err := config.ParseProxy([]byte(data))
	if err != nil {
		t.Fatalf("ParseProxy: %v", err)
	}
	if p.AdminListen != "127.0.0.1:0" || p.Inbound[0].Listen != "127.0.0.1:0" || p.Outbound[0].Listen != "127.0.0.1:0" {
		t.Fatalf("listen addresses %q %q %q", p.AdminListen, p.Inbound[0].Listen, p.Outbound[0].Listen)
	}
}

func TestParseProxyEmpty(t *testing.T) {
	for _, data := range []string{"", "\n\n", "# only a comment\n"} {
		_, err := config.ParseProxy([]byte(data))
		if err == nil || !strings.Contains(err.Error(), "file is empty") {
			t.Errorf("ParseProxy(%q) = %v, want the empty-file error", data, err)
		}
	}
	big := strings.Repeat("#", config.MaxFileSize+1)
	if _, err := config.ParseProxy([]byte(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized file: %v", err)
	}
}

// All problems are reported at once, each on its own line.
func TestParseProxyReportsAllErrors(t *testing.T) {
	data := strings.NewReplacer(
		"spiffe://demo.local/ns/shop/sa/admin]", "spiffe://Demo.local/x]",
		"listen: 127.0.0.1:19001", "listen: 127.0.0.1:19006",
		"join_token_file: server.tok}", "join_token_file: server.tok, svid_ttl: 1m}",
	).Replace(baseline)
	_, err := config.ParseProxy([]byte(data))
	if err == nil {
		t.Fatal("accepted a file with three errors")
	}
	lines := strings.Split(err.Error(), "\n  - ")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 problems, got:\n%v", err)
	}
	for _, w := range []string{"inbound[0].allow[1]", "outbound[0].listen", "ca.svid_ttl"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %s:\n%v", w, err)
		}
	}
}

// Validate never changes the file struct it checks.
func TestValidateDoesNotMutate(t *testing.T) {
	f := config.ProxyFile{
		SPIFFEID: "spiffe://demo.local/a", CA: config.CAFile{Address: "127.0.0.1:1", BundleFile: "b", JoinTokenFile: "t"},
		Inbound: []config.InboundFile{{Listen: "127.0.0.1:0", Forward: "127.0.0.1:2", Allow: []string{"spiffe://demo.local/b"}}},
	}
	before := fmt.Sprintf("%#v", f)
	p, err := f.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if after := fmt.Sprintf("%#v", f); after != before {
		t.Fatalf("Validate changed its input:\n%s\n%s", before, after)
	}
	if p.Inbound[0].Name != "inbound-0" || f.Inbound[0].Name != "" {
		t.Fatalf("default name %q (file %q)", p.Inbound[0].Name, f.Inbound[0].Name)
	}
}
