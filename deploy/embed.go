// Package deploy holds hopseal's Kubernetes manifests, embedded so that the
// hopseal binary can render them. The CRDs in crds/ are generated from
// api/hopseal/v1alpha1 by scripts/gen-crds.sh; never edit them by hand.
//
// chart/hopseal is the Helm chart of the control plane, and what `hopseal
// install` renders. Its crds/ holds copies of crds/ (Helm reads CRDs only
// from inside a chart); a test of internal/kube/install fails when they
// differ.
package deploy

import (
	"embed"
	"io/fs"
	"path"
)

//go:embed crds/*.yaml
var crds embed.FS

// all: so that templates/_helpers.tpl, whose name starts with "_", is kept.
//
//go:embed all:chart/hopseal
var chart embed.FS

// Manifest is one YAML file of Kubernetes objects.
type Manifest struct {
	Name string // file name, e.g. hopseal.io_mtlspolicies.yaml
	YAML []byte // the caller's own copy
}

// CRDs returns the CustomResourceDefinitions of the hopseal.io API, one
// manifest per resource, in file name order.
func CRDs() []Manifest {
	names, err := fs.Glob(crds, "crds/*.yaml")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	out := make([]Manifest, 0, len(names))
	for _, name := range names {
		data, err := crds.ReadFile(name)
		if err != nil {
			panic(err) // embedded at build time: cannot be missing
		}
		out = append(out, Manifest{Name: path.Base(name), YAML: data})
	}
	return out
}

// Chart is the Helm chart at chart/hopseal, rooted at the chart's directory
// (Chart.yaml, values.yaml, templates/...).
func Chart() fs.FS {
	sub, err := fs.Sub(chart, "chart/hopseal")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
