package cli

import "github.com/spf13/cobra"

func demoCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Run the demo (frontend → orders → payments over mutual TLS)"}
}
