package report

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/hopseal/hopseal/internal/audit"
)

// SARIF 2.1.0, as code-scanning UIs read it: one run, hopseal's rules in
// the driver, one result per finding located in the evidence file it came
// from (a result needs a location to be shown).
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	ShortDescription sarifText      `json:"shortDescription"`
	Help             sarifText      `json:"help"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	Physical sarifPhysical  `json:"physicalLocation"`
	Logical  []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	Artifact sarifArtifact `json:"artifactLocation"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	Kind               string `json:"kind,omitempty"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
}

func writeSARIF(w io.Writer, r *Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "hopseal", InformationURI: "https://github.com/hopseal/hopseal"}}, Results: []sarifResult{}}
	ruleIndex := map[string]bool{}
	artifact := "hopseal-audit"
	if len(r.Sources) > 0 {
		artifact = r.Sources[0].File
	}
	for _, f := range r.Findings {
		if !ruleIndex[f.Rule] {
			ruleIndex[f.Rule] = true
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
				ID: f.Rule, ShortDescription: sarifText{Text: f.Title}, Help: sarifText{Text: f.Fix},
				Properties: map[string]any{"tags": controlTags(f.Controls)},
			})
		}
		msg := f.Title
		if len(f.Evidence) > 0 {
			msg += ": " + strings.Join(f.Evidence, "; ")
		}
		name := f.Subject.Name
		if f.Subject.Namespace != "" {
			name = f.Subject.Namespace + "/" + name
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: f.Rule, Level: sarifLevel(f.Severity), Message: sarifText{Text: msg},
			Locations: []sarifLocation{{
				Physical: sarifPhysical{Artifact: sarifArtifact{URI: artifact}},
				Logical:  []sarifLogical{{Name: f.Subject.Name, Kind: f.Subject.Kind, FullyQualifiedName: name}},
			}},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	})
}

// sarifLevel maps severities onto SARIF's three levels.
func sarifLevel(s audit.Severity) string {
	switch {
	case s >= audit.High:
		return "error"
	case s >= audit.Low:
		return "warning"
	}
	return "note"
}

func controlTags(cs []audit.Control) []string {
	tags := []string{"security", "encryption-in-transit"}
	for _, c := range cs {
		tags = append(tags, string(c))
	}
	return tags
}
