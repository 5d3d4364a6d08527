// Package install renders hopseal's control plane for `kubectl apply -f -`:
// the Helm chart embedded from deploy/chart/hopseal, through Helm's own
// engine, so `hopseal install` and `helm template` give the same objects.
//
// The output is what `helm template --include-crds` prints: the CRDs first,
// then the templates in Helm's install order (Namespace, ServiceAccount,
// RBAC, Service, Deployment, ... and the webhook configuration last), each
// document headed by a "# Source:" comment.
package install

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"

	"github.com/hopseal/hopseal/deploy"
)

// Namespace is the control plane's namespace, which the chart fixes.
const Namespace = "hopseal-system"

// releaseName is what Helm's templates see as .Release.Name; the chart's
// object names do not depend on it.
const releaseName = "hopseal"

// Render returns the manifests of the control plane of hopseal version
// (the default image tag) with values merged over the chart's values.yaml
// (Helm copies values before merging: they are not changed).
func Render(version string, values map[string]any) ([]byte, error) {
	ch, err := Chart(version)
	if err != nil {
		return nil, err
	}
	return RenderChart(ch, values)
}

// Chart loads the embedded chart with appVersion set to version.
func Chart(version string) (*chart.Chart, error) {
	if version == "" {
		return nil, fmt.Errorf("install: empty hopseal version: it is the default image tag")
	}
	ch, err := LoadFS(deploy.Chart())
	if err != nil {
		return nil, err
	}
	ch.Metadata.AppVersion = version
	return ch, nil
}

// LoadFS loads a chart from the files of fsys, rooted at the chart's
// directory.
func LoadFS(fsys fs.FS) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: name, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("install: read the chart: %w", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("install: load the chart: %w", err)
	}
	return ch, nil
}

// RenderChart renders ch as `helm template --include-crds` does.
func RenderChart(ch *chart.Chart, values map[string]any) ([]byte, error) {
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: Namespace, Revision: 1, IsInstall: true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("check the values (--set, --values and the flags):\n%w", err)
	}
	coalesced, _ := vals["Values"].(chartutil.Values)
	if err := Validate(ch.Metadata.AppVersion, coalesced); err != nil {
		return nil, fmt.Errorf("check the values (--set, --values and the flags):\n%w", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("install: render the chart: %w", err)
	}
	_, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("install: the chart rendered invalid YAML: %w", err)
	}
	var b bytes.Buffer
	for _, crd := range ch.CRDObjects() {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, crd.File.Data)
	}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return []byte(strings.TrimSpace(b.String()) + "\n"), nil
}
