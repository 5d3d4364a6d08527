package report

import (
	_ "embed"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/hopseal/hopseal/internal/audit"
)

//go:embed report.html.tmpl
var htmlTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper":    strings.ToUpper,
	"controls": joinControls,
	"sev":      func(s audit.Severity) string { return s.String() },
}).Parse(htmlTemplate))

// graph is the service graph drawn in SVG: workloads on a circle, hops as
// arrows coloured by encryption. No script: the page stands alone and
// opens anywhere, an auditor's archive included.
type graph struct {
	Width, Height int
	Nodes         []node
	Edges         []edge
}

type node struct {
	Name   string
	X, Y   float64
	Anchor string // text-anchor of the label, away from the centre
	LX, LY float64
}

type edge struct {
	X1, Y1, X2, Y2 float64
	Encrypted      bool
	Title          string
}

const (
	graphSize   = 640
	graphRadius = 220
	nodeRadius  = 9
)

func layout(hops []audit.Hop) graph {
	var names []string
	for _, h := range hops {
		for _, n := range []string{h.Source, h.Dest} {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	g := graph{Width: graphSize, Height: graphSize}
	at := map[string]node{}
	c := float64(graphSize) / 2
	for i, n := range names {
		a := 2*math.Pi*float64(i)/float64(len(names)) - math.Pi/2
		x, y := c+graphRadius*math.Cos(a), c+graphRadius*math.Sin(a)
		anchor := "start"
		if math.Cos(a) < -0.1 {
			anchor = "end"
		} else if math.Abs(math.Cos(a)) <= 0.1 {
			anchor = "middle"
		}
		nd := node{Name: n, X: x, Y: y, Anchor: anchor, LX: c + (graphRadius+18)*math.Cos(a), LY: c + (graphRadius+18)*math.Sin(a) + 4}
		at[n] = nd
		g.Nodes = append(g.Nodes, nd)
	}
	for _, h := range hops {
		s, d := at[h.Source], at[h.Dest]
		if h.Source == h.Dest {
			continue
		}
		// Stop the arrow at the destination's edge, so its head shows.
		dx, dy := d.X-s.X, d.Y-s.Y
		l := math.Hypot(dx, dy)
		k := (l - nodeRadius - 4) / l
		g.Edges = append(g.Edges, edge{
			X1: s.X, Y1: s.Y, X2: s.X + dx*k, Y2: s.Y + dy*k, Encrypted: h.Encrypted,
			Title: h.Source + " → " + h.Dest + ": " + h.Protocol,
		})
	}
	return g
}

func writeHTML(w io.Writer, r *Report) error {
	return page.Execute(w, struct {
		*Report
		Graph  graph
		Counts any
	}{r, layout(r.Hops), r.Summary.counts()})
}
