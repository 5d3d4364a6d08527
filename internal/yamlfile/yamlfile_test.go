package yamlfile

import (
	"strings"
	"testing"
)

type doc struct {
	Name  string  `yaml:"name"`
	Items []item  `yaml:"items"`
	Opt   *nested `yaml:"opt"`
}

type item struct {
	Port int `yaml:"port"`
}

type nested struct {
	On bool `yaml:"on"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error; none for success
	}{
		{name: "valid", in: "name: x\nitems: [{port: 1}]\nopt: {on: true}\n"},
		{name: "unknown top-level key", in: "nmae: x\n", want: []string{"nmae (line 1) is not a known key", "known keys here: items, name, opt"}},
		{name: "unknown key in a list item", in: "items:\n  - {port: 1}\n  - {prot: 2}\n", want: []string{"items[1].prot (line 3)", "known keys here: port"}},
		{name: "unknown key behind a pointer", in: "opt: {of: true}\n", want: []string{"opt.of (line 1)"}},
		{name: "every unknown key at once", in: "a: 1\nb: 2\n", want: []string{"a (line 1)", "b (line 2)"}},
		{name: "wrong type", in: "items: 5\n", want: []string{"test:", "cannot unmarshal"}},
		{name: "two documents", in: "name: x\n---\nname: y\n", want: []string{"more than one YAML document"}},
		{name: "empty", in: "", want: []string{"write something"}},
		{name: "too big", in: strings.Repeat("#", 101), want: []string{"over the 100-byte limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tt.in), &d, 100, "test", "test: empty; write something")
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if d.Name != "x" || len(d.Items) != 1 || d.Opt == nil || !d.Opt.On {
					t.Fatalf("decoded %+v", d)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestProblems(t *testing.T) {
	p := Problems{Title: "x: invalid"}
	if p.Err() != nil {
		t.Fatal("no problems, yet an error")
	}
	p.Add("a.b", "v", "is bad; use %s", "w")
	p.Add("c", "", "is required")
	want := "x: invalid:\n  - a.b: \"v\" is bad; use w\n  - c is required"
	if got := p.Err().Error(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
