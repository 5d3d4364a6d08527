package inject

import (
	"bytes"
	"encoding/json"
	"fmt"

	jsonpatchapply "gopkg.in/evanphx/json-patch.v4"
	"sigs.k8s.io/yaml"
)

// YAML injects every workload in a stream of YAML (or JSON) documents and
// returns the stream with the changed documents rewritten. Documents it does
// not change, and the "---" lines between documents, are copied byte for
// byte; changed ones are re-rendered, with keys sorted and comments lost.
// Errors name the document (from 1).
func YAML(cfg Config, data []byte) ([]byte, []Result, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	var results []Result
	n := 0 // documents so far, not counting blank ones
	for _, d := range docs {
		if !blank(d.text) {
			n++
		}
		changed, res, err := document(cfg, d.text)
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: %w", n, err)
		}
		out.Write(d.separator)
		out.Write(changed)
		results = append(results, res...)
	}
	return out.Bytes(), results, nil
}

// part is one document of a stream and the "---" line before it.
type part struct{ separator, text []byte }

// splitDocuments cuts a stream at lines that are "---", optionally followed
// by spaces and a comment, as kubectl does. Joining the parts gives data back.
func splitDocuments(data []byte) ([]part, error) {
	parts := []part{{}}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
			rest = bytes.TrimSpace(rest)
			if len(rest) > 0 && rest[0] != '#' {
				return nil, fmt.Errorf("after document %d: %q is not a document separator: put nothing but a comment after ---", nonBlank(parts), bytes.TrimSpace(line))
			}
			parts = append(parts, part{separator: line})
			continue
		}
		last := &parts[len(parts)-1]
		last.text = append(last.text, line...)
	}
	return parts, nil
}

func blank(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

func nonBlank(parts []part) int {
	n := 0
	for _, p := range parts {
		if !blank(p.text) {
			n++
		}
	}
	return n
}

// document returns doc injected, or doc itself when nothing changed.
func document(cfg Config, doc []byte) ([]byte, []Result, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, nil, err
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return doc, nil, nil // only comments or blank lines
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, nil, fmt.Errorf("not a Kubernetes object (a mapping with apiVersion and kind): %w", err)
	}
	ops, results, err := visit(cfg, obj, "")
	if err != nil || len(ops) == 0 {
		return doc, results, err
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, nil, err
	}
	patch, err := jsonpatchapply.DecodePatch(raw)
	if err != nil {
		return nil, nil, err
	}
	patched, err := patch.Apply(js)
	if err != nil {
		return nil, nil, fmt.Errorf("apply the injection patch: %w", err)
	}
	y, err := yaml.JSONToYAML(patched)
	return y, results, err
}
