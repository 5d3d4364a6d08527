package inject

import (
	"encoding/json"
	"fmt"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// workloads are the kinds with a pod template: the API group and the
// template's JSON pointer ("" for a Pod, whose metadata and spec are it).
var workloads = map[string]struct{ group, path string }{
	"Pod":                   {"", ""},
	"ReplicationController": {"", "/spec/template"},
	"Deployment":            {"apps", "/spec/template"},
	"StatefulSet":           {"apps", "/spec/template"},
	"DaemonSet":             {"apps", "/spec/template"},
	"ReplicaSet":            {"apps", "/spec/template"},
	"Job":                   {"batch", "/spec/template"},
	"CronJob":               {"batch", "/spec/jobTemplate/spec/template"},
}

// Result is what happened to one object of a YAML stream.
type Result struct {
	Kind, Name string
	Outcome
}

// String reads like "deployment/web injected" or "pod/x skipped: hostNetwork: …".
func (r Result) String() string {
	id := strings.ToLower(r.Kind) + "/" + r.Name
	if r.Injected {
		return id + " injected"
	}
	return id + " skipped: " + r.Reason
}

// visit injects obj's pod template, or each item of a List, and returns
// the patch for obj with paths under prefix.
func visit(cfg Config, obj map[string]any, prefix string) ([]jsonpatch.Operation, []Result, error) {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	if kind == "" || apiVersion == "" {
		return nil, nil, fmt.Errorf("not a Kubernetes object: it needs apiVersion and kind")
	}
	if items, ok := obj["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		return visitList(cfg, items, prefix)
	}
	res := Result{Kind: kind, Name: objectName(obj)}
	w, ok := workloads[kind]
	if group, _, _ := strings.Cut(apiVersion, "/"); !ok || (w.group != "" && group != w.group) || (w.group == "" && strings.Contains(apiVersion, "/")) {
		res.Reason = "not a workload with a pod template"
		return nil, []Result{res}, nil
	}
	tmpl, hasMeta, err := template(obj, w.path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", res.id(), err)
	}
	after, outcome, err := Pod(cfg, tmpl)
	res.Outcome = outcome
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", res.id(), err)
	}
	if !outcome.Injected {
		return nil, []Result{res}, nil
	}
	ops, err := Patch(tmpl, after, prefix+w.path)
	if !hasMeta {
		// The typed template always has metadata; the document may not
		// (common in Jobs), and the patch adds the annotation inside it.
		ops = append([]jsonpatch.Operation{jsonpatch.NewOperation("add", prefix+w.path+"/metadata", map[string]any{})}, ops...)
	}
	return ops, []Result{res}, err
}

func visitList(cfg Config, items []any, prefix string) ([]jsonpatch.Operation, []Result, error) {
	var ops []jsonpatch.Operation
	var results []Result
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("items[%d] is not an object", i)
		}
		o, r, err := visit(cfg, m, fmt.Sprintf("%s/items/%d", prefix, i))
		if err != nil {
			return nil, nil, fmt.Errorf("items[%d]: %w", i, err)
		}
		ops, results = append(ops, o...), append(results, r...)
	}
	return ops, results, nil
}

func (r Result) id() string { return strings.ToLower(r.Kind) + "/" + r.Name }

func objectName(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	if name, _ := meta["name"].(string); name != "" {
		return name
	}
	if gen, _ := meta["generateName"].(string); gen != "" {
		return gen + "*"
	}
	return "(unnamed)"
}

// template decodes the pod template at path (a JSON pointer without
// escapes) and says whether it has metadata.
func template(obj map[string]any, path string) (*corev1.PodTemplateSpec, bool, error) {
	var node any = obj
	for _, key := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if key == "" {
			continue
		}
		m, _ := node.(map[string]any)
		if node = m[key]; node == nil {
			return nil, false, fmt.Errorf("%s is missing: a workload needs a pod template", strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "."))
		}
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, false, fmt.Errorf("the pod template is not an object")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, false, err
	}
	var t corev1.PodTemplateSpec
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, false, fmt.Errorf("pod template: %w", err)
	}
	_, hasMeta := m["metadata"].(map[string]any)
	return &t, hasMeta, nil
}
