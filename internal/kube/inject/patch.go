package inject

import (
	"encoding/json"
	"fmt"
	"slices"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// Patch is the JSON patch (RFC 6902) that turns before into after, with
// paths under prefix (e.g. "/spec/template" for a Deployment, "" for a Pod).
//
// The diff runs between the typed forms of both, so it names only what Pod
// changed and applies cleanly to the object as stored, including fields this
// build does not know. Init containers that Pod put in front are inserted
// at index 0 rather than diffed, which would rewrite the app's own init
// containers in place.
func Patch(before, after *corev1.PodTemplateSpec, prefix string) ([]jsonpatch.Operation, error) {
	a := after.DeepCopy()
	added := len(a.Spec.InitContainers) - len(before.Spec.InitContainers)
	if added < 0 || !slices.EqualFunc(a.Spec.InitContainers[max(added, 0):], before.Spec.InitContainers, sameName) {
		return nil, fmt.Errorf("patch: init containers were not only prepended")
	}
	front := a.Spec.InitContainers[:added]
	a.Spec.InitContainers = a.Spec.InitContainers[added:]
	if len(a.Spec.InitContainers) == 0 {
		a.Spec.InitContainers = before.Spec.InitContainers // keep nil as nil and [] as []
	}
	b1, err := json.Marshal(before)
	if err != nil {
		return nil, err
	}
	b2, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.CreatePatch(b1, b2)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	switch {
	case added == 0:
	case len(before.Spec.InitContainers) == 0:
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/initContainers", front))
	default:
		for i := len(front) - 1; i >= 0; i-- { // each insert at 0 goes in front of the last
			ops = append(ops, jsonpatch.NewOperation("add", "/spec/initContainers/0", front[i]))
		}
	}
	for i := range ops {
		ops[i].Path = prefix + ops[i].Path
	}
	return ops, nil
}

func sameName(a, b corev1.Container) bool { return a.Name == b.Name }
