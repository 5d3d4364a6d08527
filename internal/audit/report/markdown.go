package report

import (
	"fmt"
	"io"
	"strings"
)

// writeMarkdown is the report for a pull request or a wiki page.
func writeMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# hopseal audit report\n\nGenerated %s.\n\n## Evidence\n\n| file | kind | of | taken | complete |\n|---|---|---|---|---|\n",
		r.Generated.UTC().Format("2006-01-02 15:04 MST"))
	for _, s := range r.Sources {
		complete := "yes"
		if s.Partial != "" {
			complete = "no: " + s.Partial
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(s.File), cell(s.Kind), cell(s.From), cell(s.Taken), cell(complete))
	}
	fmt.Fprintf(&b, "\n## Hops\n\n%d encrypted, %d plaintext.\n\n", r.Summary.HopsEncrypted, r.Summary.HopsPlaintext)
	if len(r.Hops) > 0 {
		b.WriteString("| from | to | protocol | encrypted | connections |\n|---|---|---|---|---|\n")
		for _, h := range r.Hops {
			enc := "✔ yes"
			if !h.Encrypted {
				enc = "✘ **no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", cell(h.Source), cell(h.Dest), cell(h.Protocol), enc, h.Flows)
		}
	}
	b.WriteString("\n## Findings\n\n")
	if len(r.Findings) == 0 {
		b.WriteString("None.\n")
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "### %s: %s\n\n- rule: `%s`\n", strings.ToUpper(f.Severity.String()), cell(f.Title), f.Rule)
		if len(f.Controls) > 0 {
			fmt.Fprintf(&b, "- controls: %s\n", joinControls(f.Controls))
		}
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "- evidence: %s\n", cell(e))
		}
		if f.Fix != "" {
			fmt.Fprintf(&b, "- fix: %s\n", cell(f.Fix))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell keeps text from breaking a table or adding markup.
func cell(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "'")
	return r.Replace(s)
}
