package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Marks of a check's outcome in the human output.
const (
	MarkSuccess = "✔"
	MarkWarning = "‼"
	MarkError   = "✘"
)

func mark(s Status) string {
	switch s {
	case Success:
		return MarkSuccess
	case Warning:
		return MarkWarning
	}
	return MarkError
}

// WriteText prints r as `linkerd check` does: each category under a
// header, one line per check, the finding and a hint indented under each
// warning and error, and a final status line.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	for _, c := range r.Categories {
		fmt.Fprintf(&b, "%s\n%s\n", c.Name, strings.Repeat("-", len(c.Name)))
		for _, ch := range c.Checks {
			if ch.Result == Success {
				fmt.Fprintf(&b, "%s %s%s\n", mark(ch.Result), ch.Description, parenthesised(ch.Message))
				continue
			}
			fmt.Fprintf(&b, "%s %s\n", mark(ch.Result), ch.Description)
			if ch.Message != "" {
				fmt.Fprintf(&b, "    %s\n", ch.Message)
			}
			if ch.Hint != "" {
				fmt.Fprintf(&b, "    hint: %s\n", ch.Hint)
			}
		}
		b.WriteString("\n")
	}
	status := MarkSuccess
	if !r.Success {
		status = MarkError
	}
	fmt.Fprintf(&b, "Status check results are %s\n", status)
	_, err := io.WriteString(w, b.String())
	return err
}

func parenthesised(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// WriteJSON prints r as indented JSON: success, then categories → checks,
// each with description, result (success, warning or error), message and
// hint.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
