package cluster

import (
	_ "embed"
	"fmt"
	"path"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed nitro.yaml
var nitroYAML []byte

// InstanceTable lists the EC2 instance families that encrypt traffic
// between instances in hardware (nitro.yaml says where it comes from).
type InstanceTable struct {
	Source     string              `json:"source"`
	Written    string              `json:"written"`
	Conditions []string            `json:"conditions"`
	Families   map[string][]string `json:"families"` // category → families
	Exclude    []string            `json:"exclude,omitempty"`
}

// Hardware encryption of a node, or of a pair of nodes.
type Hardware string

const (
	HardwareCovered    Hardware = "covered"     // a listed family
	HardwareNotCovered Hardware = "not covered" // an EC2 type of another family
	HardwareUnknown    Hardware = "unknown"     // no type, or not an EC2 type
)

// NitroTable is the table built into hopseal.
func NitroTable() *InstanceTable {
	t, err := ParseInstanceTable(nitroYAML)
	if err != nil {
		panic(err) // the embedded file is checked by the package's tests
	}
	return t
}

// ParseInstanceTable reads a table such as nitro.yaml; unknown keys and
// empty or malformed entries are errors.
func ParseInstanceTable(data []byte) (*InstanceTable, error) {
	var t InstanceTable
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("instance table: %w", err)
	}
	if t.Source == "" || t.Written == "" {
		return nil, fmt.Errorf("instance table: source and written are required: say where the list comes from and when it was compared")
	}
	if len(t.Families) == 0 {
		return nil, fmt.Errorf("instance table: families is empty")
	}
	for cat, fams := range t.Families {
		for _, f := range fams {
			if !familyPattern.MatchString(f) {
				return nil, fmt.Errorf("instance table: families.%s: %q is not a lower-case family such as m6i or u-*", cat, f)
			}
		}
	}
	for _, e := range t.Exclude {
		if _, err := path.Match(e, ""); err != nil {
			return nil, fmt.Errorf("instance table: exclude: %q: %w", e, err)
		}
	}
	return &t, nil
}

var (
	familyPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\*?$`)
	// ec2Type is family.size, e.g. m6i.large or u-6tb1.112xlarge.
	ec2Type = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
)

// Covers says whether an instance type is in the table, and why not.
func (t *InstanceTable) Covers(instanceType string) (Hardware, string) {
	it := strings.ToLower(strings.TrimSpace(instanceType))
	switch {
	case it == "":
		return HardwareUnknown, "no instance type label"
	case !ec2Type.MatchString(it):
		return HardwareUnknown, fmt.Sprintf("%q is not an EC2 instance type", instanceType)
	}
	for _, e := range t.Exclude {
		if ok, _ := path.Match(e, it); ok {
			return HardwareNotCovered, fmt.Sprintf("%s is excluded (%s)", it, e)
		}
	}
	family, _, _ := strings.Cut(it, ".")
	for _, fams := range t.Families {
		for _, f := range fams {
			if prefix, wild := strings.CutSuffix(f, "*"); wild && strings.HasPrefix(family, prefix) || f == family {
				return HardwareCovered, "family " + family
			}
		}
	}
	return HardwareNotCovered, "family " + family + " is not in the table"
}
