// Package yamlfile reads hopseal's YAML files strictly and reports every
// problem by key path, so a user can find and fix each one.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decode reads one YAML document into v, a pointer to a struct with yaml
// tags. Over max bytes, an empty document, a key v has no field for (each
// reported with the keys that would fit), a value of the wrong type and a
// second document are all errors, prefixed with what ("policy"). empty is
// the message for an empty file: it should say what to write.
func Decode(data []byte, v any, max int, what, empty string) error {
	if len(data) > max {
		return fmt.Errorf("%s: file is %d bytes, over the %d-byte limit", what, len(data), max)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(root.Content) == 0 {
		return errors.New(empty)
	}
	p := Problems{Title: what + ": unknown keys"}
	unknownKeys(&root, reflect.TypeOf(v), "", &p)
	if err := p.Err(); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the file holds more than one YAML document; keep one", what)
	}
	return nil
}

// unknownKeys walks the YAML tree against the struct type and reports every
// key that means nothing there.
func unknownKeys(n *yaml.Node, t reflect.Type, path string, p *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content {
			unknownKeys(c, t, path, p)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			unknownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p)
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
				p.Add(fmt.Sprintf("%s (line %d)", at, key.Line), "", "is not a known key; known keys here: %s", strings.Join(known, ", "))
				continue
			}
			unknownKeys(val, ft, at, p)
		}
	}
}

// Problems collects what is wrong with a file, to report it all at once.
type Problems struct {
	Title string // e.g. "policy: invalid policy"
	list  []string
}

// Add records that the value at path is wrong; the message says why and how
// to fix it. An empty value is left out of the message.
func (p *Problems) Add(path, value, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if value != "" {
		p.list = append(p.list, fmt.Sprintf("%s: %q %s", path, value, msg))
	} else {
		p.list = append(p.list, fmt.Sprintf("%s %s", path, msg))
	}
}

// Err is nil without problems, else one error listing them all.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(p.Title + ":")
	for _, m := range p.list {
		b.WriteString("\n  - ")
		b.WriteString(m)
	}
	return errors.New(b.String())
}
