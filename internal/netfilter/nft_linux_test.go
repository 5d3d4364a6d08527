package netfilter_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hopseal/hopseal/internal/netfilter"
	"github.com/hopseal/hopseal/internal/testenv"
)

// nft(8) is the reference for the text: what Apply installs, nft lists as
// exactly Plan's text, and that text loaded by nft installs exactly what
// Apply does (Installed decodes it to the same plan).
func TestTextMatchesNft(t *testing.T) {
	testenv.RequireTool(t, "nft")
	n := testenv.NewNet(t, testenv.NetConfig{})
	applied, loaded := n.AddPod(t, "applied"), n.AddPod(t, "loaded")
	plan := netfilter.Plan(withExcludes())

	in(t, applied, func() error { return netfilter.Apply(withExcludes()) })
	out, err := applied.Run(t, "nft", "list", "table", "inet", "hopseal")
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	if out != plan.String() {
		t.Errorf("nft lists what Apply installed as\n%s\nbut Plan's text is\n%s", out, plan)
	}

	file := filepath.Join(t.TempDir(), "hopseal.nft")
	if err := os.WriteFile(file, []byte(plan.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := loaded.Run(t, "nft", "-f", file); err != nil {
		t.Fatalf("nft -f rejects Plan's text: %v\n%s", err, out)
	}
	requireInstalled(t, loaded, plan)
}
