package cli

import (
	"crypto/fips140"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the FIPS 140-3 mode",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "hopseal %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(cmd.OutOrStdout(), "fips140: %s\n", FIPSMode())
			return nil
		},
	}
}

// FIPSMode describes whether Go's FIPS 140-3 module is active.
func FIPSMode() string {
	switch {
	case fips140.Enforced():
		return fmt.Sprintf("enforced (module %s; only approved algorithms)", fips140.Version())
	case fips140.Enabled():
		return fmt.Sprintf("enabled (module %s)", fips140.Version())
	}
	return "off (build with GOFIPS140=v1.0.0 or run with GODEBUG=fips140=on)"
}
