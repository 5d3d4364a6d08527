package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/hopseal/hopseal/internal/audit"
	"github.com/hopseal/hopseal/internal/audit/report"
)

func evidence() ([]string, []audit.Evidence) {
	plain := audit.Finding{
		Rule: "capture/plaintext-http", Severity: audit.High, Title: "orders → payments: plaintext HTTP <script>alert(1)</script>",
		Subject:  audit.Subject{Kind: "flow", Name: "orders → payments", Source: "orders", Dest: "payments"},
		Controls: audit.InTransit, Evidence: []string{"GET /pay | Authorization: [redacted]"}, Fix: "mesh both workloads",
	}
	capture := audit.Evidence{Kind: "capture", Version: 1, Source: "a.pcap", Taken: "2026-11-24T10:00:00Z",
		Findings: []audit.Finding{plain},
		Hops: []audit.Hop{
			{Source: "orders", Dest: "payments", Protocol: "HTTP/1.1", Flows: 2},
			{Source: "frontend", Dest: "orders", Protocol: "hopseal mTLS", Encrypted: true, Flows: 5},
		}}
	again := capture // a second capture of the same hops
	again.Source = "b.pcap"
	again.Partial = "truncated at packet 7"
	cluster := audit.Evidence{Kind: "cluster", Version: 1, Source: "https://k8s", Taken: "2026-11-24T10:01:00Z",
		Findings: []audit.Finding{
			{Rule: "cluster/no-default-deny", Severity: audit.Medium, Title: "namespace shop has no default-deny", Subject: audit.Subject{Kind: "Namespace", Name: "shop"}},
			{Rule: "cluster/trust-inventory", Severity: audit.Info, Title: "trusted certificates", Subject: audit.Subject{Kind: "Certificate", Name: "root"}},
		}}
	return []string{"a.json", "b.json", "c.json"}, []audit.Evidence{capture, again, cluster}
}

func TestBuildMergesAndSorts(t *testing.T) {
	files, ev := evidence()
	r := report.Build(time.Unix(0, 0), files, ev)
	if len(r.Findings) != 3 || r.Findings[0].Severity != audit.High || r.Findings[2].Severity != audit.Info {
		t.Fatalf("findings %+v: want three, the duplicate kept once, most severe first", r.Findings)
	}
	if len(r.Hops) != 2 || r.Hops[1].Flows != 4 || r.Hops[1].Encrypted {
		t.Fatalf("hops %+v: want the plaintext hop's flows summed across captures", r.Hops)
	}
	if r.Summary.HopsEncrypted != 1 || r.Summary.HopsPlaintext != 1 || r.Summary.BySeverity["high"] != 1 {
		t.Fatalf("summary %+v", r.Summary)
	}
	if r.Sources[1].Partial == "" {
		t.Error("a partial source lost its note")
	}
}

func TestRead(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not JSON", "pcap bytes", "not hopseal audit evidence"},
		{"no kind", `{"version":1}`, "no evidence kind"},
		{"newer", `{"kind":"capture","version":99}`, "upgrade hopseal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := report.Read("x.json", strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.json") {
				t.Fatalf("error %v: want it to name the file and say %q", err, tc.want)
			}
		})
	}
}

func write(t *testing.T, format string) string {
	t.Helper()
	files, ev := evidence()
	var b bytes.Buffer
	if err := report.Write(&b, report.Build(time.Unix(0, 0), files, ev), format); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFormats(t *testing.T) {
	text := write(t, "text")
	for _, want := range []string{"[HIGH] orders → payments", "fix: mesh both workloads", "✘ orders → payments: HTTP/1.1 (4 connections)", "incomplete: truncated"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	var back report.Report
	if err := json.Unmarshal([]byte(write(t, "json")), &back); err != nil || len(back.Findings) != 3 || back.Findings[0].Severity != audit.High {
		t.Errorf("JSON does not read back: %v %+v", err, back.Findings)
	}
	md := write(t, "markdown")
	if !strings.Contains(md, `GET /pay \| Authorization`) || strings.Contains(md, "<script>") {
		t.Errorf("markdown cells not escaped:\n%s", md)
	}
	if err := report.Write(&bytes.Buffer{}, &report.Report{}, "pdf"); err == nil {
		t.Error("an unknown format was accepted")
	}
}

func TestSARIF(t *testing.T) {
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					Physical struct {
						Artifact struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(write(t, "sarif")), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 3 || len(log.Runs[0].Tool.Driver.Rules) != 3 {
		t.Fatalf("SARIF %+v: want one run, three rules and three results", log)
	}
	levels := map[string]string{}
	for _, r := range log.Runs[0].Results {
		levels[r.RuleID] = r.Level
		if len(r.Locations) == 0 || r.Locations[0].Physical.Artifact.URI == "" {
			t.Errorf("result %s has no location; code-scanning UIs drop it", r.RuleID)
		}
	}
	if levels["capture/plaintext-http"] != "error" || levels["cluster/no-default-deny"] != "warning" || levels["cluster/trust-inventory"] != "note" {
		t.Errorf("levels %v", levels)
	}
}

// The page parses as HTML, escapes what evidence says, and draws one arrow
// per hop in its colour.
func TestHTML(t *testing.T) {
	page := write(t, "html")
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			count[n.Data]++
			for _, a := range n.Attr {
				if a.Key == "class" {
					count["."+a.Val]++
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if count["script"] != 0 {
		t.Fatal("a finding's text became a script element")
	}
	if count["svg"] != 1 || count["circle"] != 3 || count[".edge-encrypted"] != 1 || count[".edge-plaintext"] != 1 {
		t.Fatalf("graph: %d svg, %d nodes, %d encrypted and %d plaintext edges; want 1, 3, 1, 1",
			count["svg"], count["circle"], count[".edge-encrypted"], count[".edge-plaintext"])
	}
}
