package cluster

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNitroTableCovers(t *testing.T) {
	table := NitroTable()
	if !strings.HasPrefix(table.Source, "https://docs.aws.amazon.com/") || table.Written == "" {
		t.Errorf("table source %q written %q", table.Source, table.Written)
	}
	for _, tc := range []struct {
		instanceType string
		want         Hardware
	}{
		{"m6i.large", HardwareCovered},
		{"M6I.LARGE", HardwareCovered},
		{"c5n.18xlarge", HardwareCovered},
		{"c7gn.medium", HardwareCovered},
		{"m7i-flex.large", HardwareCovered},
		{"p4d.24xlarge", HardwareCovered},
		{"u-6tb1.112xlarge", HardwareCovered},
		{"u-6tb1.metal", HardwareNotCovered}, // excluded: high memory counts virtualized only
		{"x2iedn.xlarge", HardwareCovered},
		{"m5.large", HardwareNotCovered},  // Nitro, but not in the list
		{"c5.xlarge", HardwareNotCovered}, // c5a and c5n are; c5 is not
		{"t3.medium", HardwareNotCovered},
		{"m6g.large", HardwareNotCovered},
		{"", HardwareUnknown},
		{"e2-standard-4", HardwareUnknown},   // not an EC2 type
		{"Standard_D4s_v3", HardwareUnknown}, // nor this
	} {
		t.Run(tc.instanceType, func(t *testing.T) {
			got, why := table.Covers(tc.instanceType)
			if got != tc.want {
				t.Errorf("%s (%s), want %s", got, why, tc.want)
			}
			if why == "" {
				t.Error("no reason")
			}
		})
	}
}

func TestParseInstanceTable(t *testing.T) {
	const valid = "source: https://example.test/list\nwritten: \"2026-01-01\"\nfamilies: {general: [m6i, u-*]}\n"
	if _, err := ParseInstanceTable([]byte(valid)); err != nil {
		t.Fatalf("valid table: %v", err)
	}
	for _, tc := range []struct{ name, yaml, say string }{
		{"no source", strings.Replace(valid, "source: https://example.test/list\n", "", 1), "source and written"},
		{"no date", strings.Replace(valid, "written: \"2026-01-01\"\n", "", 1), "source and written"},
		{"no families", strings.Replace(valid, "families: {general: [m6i, u-*]}\n", "", 1), "families is empty"},
		{"upper-case family", strings.Replace(valid, "m6i", "M6i", 1), `"M6i" is not a lower-case family`},
		{"unknown key", valid + "famlies: {}\n", "famlies"},
		{"bad exclude glob", valid + "exclude: [\"u-[.metal\"]\n", "exclude"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInstanceTable([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("error %v, want one saying %q", err, tc.say)
			}
		})
	}
}

func node(name, instanceType, region string) corev1.Node {
	l := map[string]string{}
	if instanceType != "" {
		l[corev1.LabelInstanceTypeStable] = instanceType
	}
	if region != "" {
		l[corev1.LabelTopologyRegion] = region
	}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func TestNodePairs(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b corev1.Node
		want Hardware
	}{
		{"both covered", node("a", "m6i.large", "eu-west-1"), node("b", "c6i.large", "eu-west-1"), HardwareCovered},
		{"both covered, regions unlabelled", node("a", "m6i.large", ""), node("b", "c6i.large", ""), HardwareCovered},
		{"one not covered", node("a", "m6i.large", "eu-west-1"), node("b", "m5.large", "eu-west-1"), HardwareNotCovered},
		{"different regions", node("a", "m6i.large", "eu-west-1"), node("b", "c6i.large", "us-east-1"), HardwareNotCovered},
		{"one without a type", node("a", "m6i.large", "eu-west-1"), node("b", "", "eu-west-1"), HardwareUnknown},
		{"beta label", node("a", "m6i.large", ""), corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b",
			Labels: map[string]string{corev1.LabelInstanceType: "r6i.large"}}}, HardwareCovered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := nodeReport([]corev1.Node{tc.b, tc.a}, NitroTable())
			if r.Pairs != 1 || len(r.PairList) != 1 {
				t.Fatalf("pairs %d, list %v", r.Pairs, r.PairList)
			}
			if p := r.PairList[0]; p.A != "a" || p.B != "b" || p.Hardware != tc.want {
				t.Errorf("pair %+v, want a–b %s", p, tc.want)
			}
			covered := 0
			if tc.want == HardwareCovered {
				covered = 1
			}
			if r.Covered != covered || r.HopsealOnly != 1-covered {
				t.Errorf("covered %d, hopseal only %d", r.Covered, r.HopsealOnly)
			}
		})
	}
}

func TestNodePairListBounded(t *testing.T) {
	var nodes []corev1.Node
	for i := range 50 { // 1225 pairs
		nodes = append(nodes, node(fmt.Sprintf("n%02d", i), "m6i.large", ""))
	}
	r := nodeReport(nodes, NitroTable())
	if r.Pairs != 1225 || r.Covered != 1225 || r.PairList != nil {
		t.Errorf("pairs %d covered %d, list of %d (want none over %d)", r.Pairs, r.Covered, len(r.PairList), maxPairs)
	}
}
