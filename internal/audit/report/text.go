package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/hopseal/hopseal/internal/audit"
)

// writeText is the report for a terminal.
func writeText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "hopseal audit report, %s\n\n", r.Generated.UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("Evidence\n")
	for _, s := range r.Sources {
		fmt.Fprintf(&b, "  %s: %s of %s, taken %s\n", s.File, s.Kind, s.From, s.Taken)
		if s.Partial != "" {
			fmt.Fprintf(&b, "    incomplete: %s\n", s.Partial)
		}
	}
	fmt.Fprintf(&b, "\nHops: %d encrypted, %d plaintext\n", r.Summary.HopsEncrypted, r.Summary.HopsPlaintext)
	for _, h := range r.Hops {
		mark := "✔"
		if !h.Encrypted {
			mark = "✘"
		}
		fmt.Fprintf(&b, "  %s %s → %s: %s (%d connections)\n", mark, h.Source, h.Dest, h.Protocol, h.Flows)
	}
	b.WriteString("\nFindings:")
	if len(r.Findings) == 0 {
		b.WriteString(" none\n")
	}
	for _, c := range r.Summary.counts() {
		fmt.Fprintf(&b, " %d %s", c.N, c.Severity)
	}
	b.WriteString("\n")
	for _, f := range r.Findings {
		writeFindingText(&b, f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFindingText(b *strings.Builder, f audit.Finding) {
	fmt.Fprintf(b, "\n[%s] %s\n", strings.ToUpper(f.Severity.String()), f.Title)
	fmt.Fprintf(b, "  rule: %s\n", f.Rule)
	if len(f.Controls) > 0 {
		fmt.Fprintf(b, "  controls: %s\n", joinControls(f.Controls))
	}
	for _, e := range f.Evidence {
		fmt.Fprintf(b, "  evidence: %s\n", e)
	}
	if f.Fix != "" {
		fmt.Fprintf(b, "  fix: %s\n", f.Fix)
	}
}

func joinControls(cs []audit.Control) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
