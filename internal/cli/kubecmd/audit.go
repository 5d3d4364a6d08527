package kubecmd

import (
	"github.com/spf13/cobra"

	"github.com/hopseal/hopseal/internal/cli"
)

// auditCmd gathers evidence that traffic is encrypted and reports on it.
func auditCmd(g *cli.Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Prove every hop is encrypted, find the ones that are not, and report for compliance",
		Long: `Gathers evidence and turns it into findings an auditor accepts (NIST 800-53 SC-8 and
SC-8(1), SC-12, SC-13; PCI DSS 4.0 4.2.1 and 4.2.1.1; HIPAA 164.312(e)(1)):

  capture   classify captured traffic (pcap, pcapng or a live interface)
  cluster   scan a cluster's configuration
  proxies   record what hopseal's proxies and gateways saw
  report    combine evidence files into a report (text, JSON, SARIF, Markdown, HTML)`,
	}
	cmd.AddCommand(auditCaptureCmd(g), auditClusterCmd(g), auditProxiesCmd(g), auditReportCmd(g))
	return cmd
}
