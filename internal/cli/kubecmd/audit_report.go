package kubecmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/report"
	"github.com/hopseal/hopseal/internal/cli"
)

func auditReportCmd(_ *cli.Globals) *cobra.Command {
	var format, out, failOn string
	cmd := &cobra.Command{
		Use:   "report EVIDENCE.json...",
		Short: "Combine audit evidence into a report for people (text, Markdown, HTML) or tools (JSON, SARIF)",
		Long: `Combines evidence files written by 'hopseal audit capture' and 'hopseal audit cluster'
into findings with severity, the controls they bear on, evidence and fix, and the hops seen
between workloads. The HTML page stands alone and draws the service graph coloured by
encryption state.

Exits 1 when a finding at or above --fail-on exists, for CI gates (--fail-on none: never).`,
		Example: `  hopseal audit capture -r traffic.pcap -o traffic.json
  hopseal audit cluster -o cluster.json
  hopseal audit report traffic.json cluster.json --format html -o audit.html --fail-on high`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			gate, err := parseFailOn(failOn)
			if err != nil {
				return err
			}
			if !contains(report.Formats, format) {
				return fmt.Errorf("--format %q: use one of %s", format, strings.Join(report.Formats, ", "))
			}
			evidence := make([]audit.Evidence, 0, len(files))
			for _, name := range files {
				f, err := os.Open(name)
				if err != nil {
					return fmt.Errorf("open evidence: %w", err)
				}
				ev, err := report.Read(name, f)
				f.Close()
				if err != nil {
					return err
				}
				evidence = append(evidence, ev)
			}
			r := report.Build(time.Now(), files, evidence)
			var buf bytes.Buffer
			if err := report.Write(&buf, r, format); err != nil {
				return err
			}
			if err := writeOut(cmd.OutOrStdout(), out, buf.Bytes()); err != nil {
				return err
			}
			if gate != nil && audit.AtLeast(r.Findings, *gate) {
				fmt.Fprintf(cmd.ErrOrStderr(), "hopseal audit: findings at or above %s (see the report)\n", *gate)
				return &cli.ExitError{Code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "text", "text, json, sarif, markdown or html")
	f.StringVarP(&out, "output", "o", "", "write the report to this file (default: standard output)")
	f.StringVar(&failOn, "fail-on", "high", "exit 1 when a finding is at least this severe: info, low, medium, high, critical, or none")
	return cmd
}

func parseFailOn(s string) (*audit.Severity, error) {
	if s == "none" {
		return nil, nil
	}
	sev, err := audit.ParseSeverity(s)
	if err != nil {
		return nil, fmt.Errorf("--fail-on: %w, or none", err)
	}
	return &sev, nil
}

// writeOut writes b to the file named out, or to w without one. A report
// is written whole or not at all.
func writeOut(w io.Writer, out string, b []byte) error {
	if out == "" {
		_, err := w.Write(b)
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
