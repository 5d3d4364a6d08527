package cli

import (
	"bytes"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hopseal/hopseal/internal/netfilter"
	"github.com/hopseal/hopseal/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}

// runInitNet runs `hopseal init-net args…` in process.
func runInitNet(args ...string) (stdout, stderr string, err error) {
	cmd := initNetCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestInitNetDryRunPrintsThePlan(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		change func(*netfilter.Rules)
	}{
		{"defaults", nil, func(*netfilter.Rules) {}},
		{"inbound port", []string{"--inbound-port", "15006"}, func(r *netfilter.Rules) { r.InboundPort = 15006 }},
		{"outbound port", []string{"--outbound-port", "15001"}, func(r *netfilter.Rules) { r.OutboundPort = 15001 }},
		{"proxy UID", []string{"--proxy-uid", "2000"}, func(r *netfilter.Rules) { r.ProxyUID = 2000 }},
		{"excluded inbound ports", []string{"--exclude-inbound-ports", "14090, 22"},
			func(r *netfilter.Rules) { r.ExcludeInboundPorts = []uint16{14090, 22} }},
		{"excluded outbound ports", []string{"--exclude-outbound-ports=53"},
			func(r *netfilter.Rules) { r.ExcludeOutboundPorts = []uint16{53} }},
		{"excluded outbound networks", []string{"--exclude-outbound-cidrs", "169.254.169.254,fd00::/8"},
			func(r *netfilter.Rules) {
				r.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("fd00::/8")}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := netfilter.Default()
			tc.change(&want)
			out, _, err := runInitNet(append(tc.args, "--dry-run")...)
			if err != nil {
				t.Fatal(err)
			}
			if out != netfilter.Plan(want).String() {
				t.Fatalf("dry run printed\n%s\nwant\n%s", out, netfilter.Plan(want))
			}
		})
	}
	out, _, err := runInitNet("--remove", "--dry-run")
	if err != nil || out != "delete table inet hopseal\n" {
		t.Fatalf("--remove --dry-run printed %q, %v", out, err)
	}
}

func TestInitNetFlagErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"port out of range", []string{"--inbound-port", "70000"}, `"--inbound-port"`},
		{"port zero", []string{"--outbound-port", "0"}, "--outbound-port 0 is not a port"},
		{"same ports", []string{"--outbound-port", "14006"}, "--inbound-port and --outbound-port are both 14006"},
		{"root UID", []string{"--proxy-uid", "0"}, "--proxy-uid 0"},
		{"bad inbound list", []string{"--exclude-inbound-ports", "22;80"}, `--exclude-inbound-ports: "22;80" is not a port`},
		{"bad outbound list", []string{"--exclude-outbound-ports", "dns"}, `--exclude-outbound-ports: "dns" is not a port`},
		{"bad network", []string{"--exclude-outbound-cidrs", "10.0.0.0/33"}, `--exclude-outbound-cidrs: "10.0.0.0/33"`},
		{"host bits", []string{"--exclude-outbound-cidrs", "10.1.0.0/8"}, "write the network address 10.0.0.0/8"},
		{"argument", []string{"eth0"}, `unknown command "eth0"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runInitNet(append(tc.args, "--dry-run")...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if out != "" {
				t.Fatalf("printed rules despite the error:\n%s", out)
			}
		})
	}
}

// The real binary in a pod: install, replace, remove, and refuse clearly
// without privileges.
func TestInitNetInPod(t *testing.T) {
	n := testenv.NewNet(t, testenv.NetConfig{})
	pod := n.AddPod(t, "init")
	bin := testenv.Binary(t)
	installed := func() *netfilter.Ruleset {
		t.Helper()
		var rs *netfilter.Ruleset
		if err := pod.Do(func() (err error) { rs, err = netfilter.Installed(); return err }); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	withAdmin := netfilter.Default()
	withAdmin.ExcludeInboundPorts = []uint16{14090}
	steps := []struct {
		args []string
		want *netfilter.Ruleset
	}{
		{[]string{"init-net"}, netfilter.Plan(netfilter.Default())},
		{[]string{"init-net", "--exclude-inbound-ports", "14090"}, netfilter.Plan(withAdmin)},
		{[]string{"init-net", "--exclude-inbound-ports", "14090"}, netfilter.Plan(withAdmin)},
		{[]string{"init-net", "--dry-run", "--inbound-port", "1"}, netfilter.Plan(withAdmin)},
		{[]string{"init-net", "--remove"}, nil},
		{[]string{"init-net", "--remove"}, nil},
	}
	for _, s := range steps {
		if out, err := pod.Run(t, bin, s.args...); err != nil {
			t.Fatalf("hopseal %s: %v\n%s", strings.Join(s.args, " "), err, out)
		}
		if got := installed(); !reflect.DeepEqual(got, s.want) {
			t.Fatalf("after hopseal %s, installed:\n%v\nwant:\n%v", strings.Join(s.args, " "), got, s.want)
		}
	}

	testenv.Reachable(t, bin)
	out, err := pod.RunAs(t, testenv.Cred{UID: 1443, GID: 1443}, bin, "init-net")
	if err == nil || !strings.Contains(out, "CAP_NET_ADMIN") || !strings.Contains(out, "run as root") {
		t.Fatalf("init-net without privileges: %v\n%s\nwant a failure that names CAP_NET_ADMIN and the fix", err, out)
	}
	if out, err := pod.RunAs(t, testenv.Cred{UID: 1443, GID: 1443}, bin, "init-net", "--dry-run"); err != nil ||
		out != netfilter.Plan(netfilter.Default()).String() {
		t.Fatalf("init-net --dry-run without privileges: %v\n%s", err, out)
	}
	if rs := installed(); rs != nil {
		t.Fatalf("an unprivileged init-net left rules:\n%v", rs)
	}
}
