package policy

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unknownKeys walks the YAML tree against the file struct and reports every
// key that means nothing, by key path, with the keys that would.
func unknownKeys(n *yaml.Node, t reflect.Type, path string, errs *errList) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content {
			unknownKeys(c, t, path, errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			unknownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
				fields[tag] = t.Field(i).Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			at := strings.TrimPrefix(path+"."+key.Value, ".")
			ft, ok := fields[key.Value]
			if !ok {
				known := make([]string, 0, len(fields))
				for k := range fields {
					known = append(known, k)
				}
				slices.Sort(known)
				errs.add(fmt.Sprintf("%s (line %d)", at, key.Line), "", "is not a known key; known keys here: %s", strings.Join(known, ", "))
				continue
			}
			unknownKeys(val, ft, at, errs)
		}
	}
}

type errList []string

func (e *errList) add(path, value, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if value != "" {
		*e = append(*e, fmt.Sprintf("%s: %q %s", path, value, msg))
	} else {
		*e = append(*e, fmt.Sprintf("%s %s", path, msg))
	}
}

func (e errList) err() error {
	if len(e) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("policy: invalid policy:")
	for _, m := range e {
		b.WriteString("\n  - ")
		b.WriteString(m)
	}
	return errors.New(b.String())
}
