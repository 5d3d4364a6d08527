// Package check is `hopseal check`: a pre-flight and health report of hopseal
// on a Kubernetes cluster, in the manner of `linkerd check`.
//
// A report is categories of checks, run in order. Each check reads the
// cluster through client-go and decides success, warning or error, with a
// hint for anything but success. A failed fatal check (the API server cannot
// be reached, hopseal is not installed) ends the report there: the checks
// after it would only fail for the same reason. Warnings never fail a report.
package check

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Status is a check's outcome.
type Status string

const (
	Success Status = "success"
	Warning Status = "warning"
	Error   Status = "error"
)

// Result is one check's outcome.
type Result struct {
	Description string `json:"description"`
	Result      Status `json:"result"`
	// Message says what was found, e.g. "2 of 2 replicas ready".
	Message string `json:"message,omitempty"`
	// Hint says how to fix a warning or an error.
	Hint string `json:"hint,omitempty"`
}

// Category is a group of checks, such as "kubernetes-api".
type Category struct {
	Name   string   `json:"categoryName"`
	Checks []Result `json:"checks"`
}

// Report is every check run; Success is false when any check is an Error.
type Report struct {
	Success    bool       `json:"success"`
	Categories []Category `json:"categories"`
}

// Env is what the checks read.
type Env struct {
	// InitErr is why no client could be made (a bad kubeconfig): the first
	// check reports it, and nothing else runs.
	InitErr error
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Manifest is what `hopseal install` would apply: the pre-flight checks
	// ask whether each of its kinds can be created and its CRDs installed.
	Manifest []*unstructured.Unstructured
	Now      func() time.Time
}

// Mode selects the categories.
type Mode int

const (
	// Full checks an installed hopseal: control plane, identity, webhook,
	// data plane.
	Full Mode = iota
	// Pre checks that hopseal can be installed.
	Pre
)

// check is one named decision. fatal: its error ends the report.
type check struct {
	desc  string
	fatal bool
	run   func(ctx context.Context, e *Env) outcome
}

type outcome struct {
	status        Status
	message, hint string
}

func ok(format string, args ...any) outcome {
	return outcome{status: Success, message: sprintf(format, args...)}
}

func warn(hint, format string, args ...any) outcome {
	return outcome{status: Warning, message: sprintf(format, args...), hint: hint}
}

func fail(hint, format string, args ...any) outcome {
	return outcome{status: Error, message: sprintf(format, args...), hint: hint}
}

type category struct {
	name   string
	checks func(ctx context.Context, e *Env) []check // may depend on what the cluster holds
}

// Run runs the categories of mode against e and reports every outcome.
func Run(ctx context.Context, e *Env, mode Mode) Report {
	if e.Now == nil {
		e.Now = time.Now
	}
	r := Report{Success: true}
	for _, cat := range categories(mode) {
		c := Category{Name: cat.name}
		fatal := false
		for _, ch := range cat.checks(ctx, e) {
			o := ch.run(ctx, e)
			c.Checks = append(c.Checks, Result{Description: ch.desc, Result: o.status, Message: o.message, Hint: o.hint})
			if o.status == Error {
				r.Success = false
				if ch.fatal {
					fatal = true
					break
				}
			}
		}
		r.Categories = append(r.Categories, c)
		if fatal {
			break
		}
	}
	return r
}

func categories(mode Mode) []category {
	if mode == Pre {
		return []category{apiCategory, versionCategory, preSetupCategory}
	}
	return []category{apiCategory, versionCategory, crdCategory, controlPlaneCategory,
		identityCategory, webhookCategory, dataPlaneCategory}
}

// fixed turns a list of checks into a category's checks func.
func fixed(checks ...check) func(context.Context, *Env) []check {
	return func(context.Context, *Env) []check { return checks }
}
