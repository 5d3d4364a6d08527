// Package report combines audit evidence (traffic captures, cluster scans)
// into one report and writes it for people (text, Markdown, HTML with the
// service graph) and for tools (JSON, SARIF).
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hopseal/hopseal/internal/audit"
)

// Report is what every format shows.
type Report struct {
	Generated time.Time       `json:"generated"`
	Sources   []Source        `json:"sources"`
	Summary   Summary         `json:"summary"`
	Findings  []audit.Finding `json:"findings"` // most severe first
	Hops      []audit.Hop     `json:"hops"`     // merged across captures
}

// Source is one evidence file the report stands on.
type Source struct {
	File    string `json:"file"`
	Kind    string `json:"kind"`
	From    string `json:"from"`
	Taken   string `json:"taken"`
	Partial string `json:"partial,omitempty"`
}

// Summary counts findings by severity and hops by encryption.
type Summary struct {
	BySeverity    map[string]int `json:"by_severity"`
	HopsEncrypted int            `json:"hops_encrypted"`
	HopsPlaintext int            `json:"hops_plaintext"`
}

// Read parses one evidence file, with an error that names it.
func Read(name string, r io.Reader) (audit.Evidence, error) {
	var ev audit.Evidence
	dec := json.NewDecoder(r)
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("%s: not hopseal audit evidence (%v); write it with hopseal audit capture or hopseal audit cluster -o FILE", name, err)
	}
	switch {
	case ev.Kind == "":
		return ev, fmt.Errorf("%s: no evidence kind; write it with hopseal audit capture or hopseal audit cluster -o FILE", name)
	case ev.Version > audit.EvidenceVersion:
		return ev, fmt.Errorf("%s: evidence format %d is newer than this hopseal reads (%d); upgrade hopseal", name, ev.Version, audit.EvidenceVersion)
	}
	return ev, nil
}

// Build combines evidence. Identical findings from several files (two
// captures of the same plaintext hop) are kept once.
func Build(now time.Time, files []string, evidence []audit.Evidence) *Report {
	r := &Report{Generated: now, Summary: Summary{BySeverity: map[string]int{}}}
	seen := map[string]bool{}
	hops := map[[3]string]*audit.Hop{}
	for i, ev := range evidence {
		r.Sources = append(r.Sources, Source{File: files[i], Kind: ev.Kind, From: ev.Source, Taken: ev.Taken, Partial: ev.Partial})
		for _, f := range ev.Findings {
			key := f.Rule + "\x00" + f.Title + "\x00" + f.Subject.Kind + "\x00" + f.Subject.Namespace + "\x00" + f.Subject.Name
			if seen[key] {
				continue
			}
			seen[key] = true
			r.Findings = append(r.Findings, f)
		}
		for _, h := range ev.Hops {
			key := [3]string{h.Source, h.Dest, h.Protocol}
			if m, ok := hops[key]; ok {
				m.Flows += h.Flows
				m.Encrypted = m.Encrypted && h.Encrypted
				continue
			}
			c := h
			hops[key] = &c
		}
	}
	slices.SortStableFunc(r.Findings, func(a, b audit.Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Title, b.Title))
	})
	for _, f := range r.Findings {
		r.Summary.BySeverity[f.Severity.String()]++
	}
	for _, h := range hops {
		r.Hops = append(r.Hops, *h)
		if h.Encrypted {
			r.Summary.HopsEncrypted++
		} else {
			r.Summary.HopsPlaintext++
		}
	}
	slices.SortFunc(r.Hops, func(a, b audit.Hop) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Dest, b.Dest), cmp.Compare(a.Protocol, b.Protocol))
	})
	return r
}

// Formats the report can be written in.
var Formats = []string{"text", "json", "sarif", "markdown", "html"}

// Write writes r in format.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "text":
		return writeText(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif":
		return writeSARIF(w, r)
	case "markdown":
		return writeMarkdown(w, r)
	case "html":
		return writeHTML(w, r)
	}
	return fmt.Errorf("format %q: use one of %v", format, Formats)
}

// counts lists the summary's non-zero severities, most severe first.
func (s Summary) counts() []struct {
	Severity string
	N        int
} {
	var out []struct {
		Severity string
		N        int
	}
	for sev := audit.Critical; sev >= audit.Info; sev-- {
		if n := s.BySeverity[sev.String()]; n > 0 {
			out = append(out, struct {
				Severity string
				N        int
			}{sev.String(), n})
		}
	}
	return out
}
