package trace

import (
	"fmt"
	"io"
	"strings"
)

// Print writes the chain for people: one block per hop, then what was not
// protected and what could not be traced.
func Print(w io.Writer, ch Chain) {
	fmt.Fprintf(w, "hopseal trace %s: %d (trace id %s)\n", ch.URL, ch.Status, ch.TraceID)
	for i, h := range ch.Hops {
		fmt.Fprintf(w, "\nhop %d: %s → %s\n", i+1, h.From, h.To)
		fmt.Fprintf(w, "  protocol:   %s\n", strings.Trim(h.Protocol, ", "))
		fmt.Fprintf(w, "  security:   %s\n", security(h))
		if h.Identities != "" {
			fmt.Fprintf(w, "  identities: %s\n", h.Identities)
		}
		if h.Note != "" {
			fmt.Fprintf(w, "  seen:       %s\n", h.Note)
		}
	}
	fmt.Fprintln(w)
	for _, p := range ch.Problems {
		fmt.Fprintf(w, "NOT PROTECTED: %s\n", p)
	}
	for _, g := range ch.Gaps {
		fmt.Fprintf(w, "not traced: %s\n", g)
	}
	if len(ch.Problems) == 0 && len(ch.Gaps) == 0 {
		fmt.Fprintln(w, "every hop that crosses a network is encrypted, and every TLS hop's identities were verified")
	}
}

func security(h Hop) string {
	switch {
	case h.Encrypted:
		return h.Security + " (encrypted)"
	case h.Local:
		return h.Security + " (local: never on a network)"
	}
	return h.Security + " (NOT ENCRYPTED)"
}
